"""The account page's event log and the console's UNDO of one event (issue 20), over plain HTTP
on SQLite and PostgreSQL: what each event drew and from which entry, its shortfall and its
reverted state; an undo through a confirmation page, CSRF-guarded, recorded as the acting
key; refused for another tenant's or another account's event, and a second time."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.api.console_client import Console
from tests.helpers import (
    feature_credits,
    new_account,
    new_feature,
    new_schema,
    ok_json,
    usage_event,
)
from tests.servers import Server


@dataclass(frozen=True)
class Judged:
    """An account whose entry of 10 units served three events: `ev-ok` drew 4 through
    `/entitled`, `ev-in` was ingested for 15 (drew the 6 left, a shortfall of 9), `ev-no`
    was refused."""

    key: str
    account: str
    feature: str
    entry: str
    refs: dict[str, str]  # event id → reference id


def _judged(server: Server, key: str) -> Judged:
    with server.client(key) as api:
        account = new_account(api)
        schema = new_schema(api)
        feature = new_feature(api, [(schema, "tokens")])
        entry = ok_json(
            api.post(f"/accounts/{account}/features/{feature}/entries", json={"granted": 10})
        )
        at = entry["effectiveFrom"]
        ok = usage_event(schema, account, at, "ev-ok", tokens="4")
        assert api.post("/entitled", json=ok).status_code == 200
        ok_json(
            api.post("/ingest", json=usage_event(schema, account, at, "ev-in", tokens="15")), 202
        )
        refused = usage_event(schema, account, at, "ev-no", tokens="400")
        assert api.post("/entitled", json=refused).status_code == 403
        listed = ok_json(api.get("/events", params={"account_id": account}))["events"]
    refs = {e["eventPayload"]["id"]: e["referenceId"] for e in listed}
    return Judged(key, account, feature, entry["id"], refs)


@pytest.fixture
def judged(server: Server) -> Iterator[tuple[Judged, Console]]:
    key = server.key()
    console = Console(server, key)
    yield _judged(server, key), console
    console.close()


def _rows(page: str) -> dict[str, str]:
    """The event log's rows by event id."""
    table = page.split('data-testid="events-table"')[1].split("</table>")[0]
    rows = re.findall(r'<tr [^>]*data-event="([^"]+)"[^>]*>(.*?)</tr>', table, re.S)
    return dict(rows)


def _status(page: str, event_id: str) -> str:
    found = re.search(rf'data-event="{re.escape(event_id)}"[^>]*data-status="([A-Z_]+)"', page)
    assert found, f"no row of {event_id}"
    return found.group(1)


def _api_status(server: Server, j: Judged, event_id: str) -> str:
    with server.client(j.key) as api:
        shown = ok_json(api.get(f"/events/{j.refs[event_id]}"))["events"][0]
    status: str = shown["ingestionStatus"]["status"]
    return status


def _balance(server: Server, j: Judged) -> str:
    with server.client(j.key) as api:
        return str(feature_credits(api, j.account, j.feature)["balance"])


def test_the_event_log_shows_status_draws_shortfall_and_who_undid_what(
    server: Server, judged: tuple[Judged, Console]
) -> None:
    j, console = judged
    page = console.get(f"/console/accounts/{j.account}").text
    rows = _rows(page)
    assert list(rows) == ["ev-no", "ev-in", "ev-ok"]  # newest first
    assert _status(page, "ev-ok") == "INGESTION_COMPLETED_EVENT_METERED"
    assert _status(page, "ev-no") == "INGESTION_FAILED_INSUFFICIENT_CREDITS"
    assert f"{j.entry}</a>: 4" in rows["ev-ok"] and "via ENTITLED" in rows["ev-ok"]
    assert f"{j.entry}</a>: 6" in rows["ev-in"] and f"{j.feature}: 9" in rows["ev-in"]
    assert "via INGEST" in rows["ev-in"]
    assert "refused</strong>" in rows["ev-no"] and "needed 400" in rows["ev-no"]
    # Only what drew can be undone: a refused event has no Undo.
    assert 'data-testid="undo-event"' in rows["ev-ok"] and "undo-event" not in rows["ev-no"]

    # The review step says what goes back where, and changes nothing.
    url = f"/console/accounts/{j.account}/actions/undo-event"
    review = console.http.post(url, data={"csrf": console.csrf, "referenceId": j.refs["ev-ok"]})
    assert review.status_code == 200 and 'data-testid="confirm-page"' in review.text
    assert f"4 to entry {j.entry}" in review.text and "Undo event ev-ok" in review.text
    assert _balance(server, j) == "0" and _api_status(server, j, "ev-ok") != "REVERTED"

    done = console.act(j.account, "undo-event", referenceId=j.refs["ev-ok"])
    assert done.status_code == 303 and "done=undo-event" in done.headers["location"]
    assert _balance(server, j) == "4"
    assert _api_status(server, j, "ev-ok") == "REVERTED"
    after = console.get(f"/console/accounts/{j.account}").text
    row = _rows(after)["ev-ok"]
    assert _status(after, "ev-ok") == "REVERTED" and "was INGESTION_COMPLETED_EVENT_METERED" in row
    assert "(given back)" in row and "undo-event" not in row
    actor = re.search(r'data-testid="reverted-by">UNDO by (key [^<]+?) at ', row)
    assert actor and actor.group(1).startswith("key ")
    actions = after.split('data-testid="actions-table"')[1].split("</table>")[0]
    assert "undo-event" in actions and f"referenceId={j.refs['ev-ok']}" in actions
    assert actor.group(1) in actions  # the same key, in both places
    # The entry's draws still list the event, given back.
    feature = console.get(f"/console/accounts/{j.account}/features/{j.feature}", entry=j.entry)
    drawn = feature.text.split('data-testid="draws-table"')[1].split("</table>")[0]
    given = re.findall(r"<td>(ev-\w+)</td>.*?</tr>", drawn, re.S)
    assert sorted(given) == ["ev-in", "ev-ok"]
    ok_row = re.search(r"<td>ev-ok</td>.*?</tr>", drawn, re.S)
    in_row = re.search(r"<td>ev-in</td>.*?</tr>", drawn, re.S)
    assert ok_row and "given back" in ok_row.group(0)
    assert in_row and "given back" not in in_row.group(0)


def test_an_undo_without_the_csrf_token_or_from_another_origin_changes_nothing(
    server: Server, judged: tuple[Judged, Console]
) -> None:
    j, console = judged
    url = f"/console/accounts/{j.account}/actions/undo-event"
    confirmed = {"referenceId": j.refs["ev-ok"], "confirm": "yes"}
    assert console.http.post(url, data=confirmed).status_code == 403
    wrong = console.http.post(url, data={**confirmed, "csrf": "not-the-token"})
    assert wrong.status_code == 403
    evil = console.http.post(
        url,
        data={**confirmed, "csrf": console.csrf},
        headers={"Origin": "http://evil.example"},
    )
    assert evil.status_code == 403
    assert _balance(server, j) == "0" and _api_status(server, j, "ev-ok") != "REVERTED"


def test_another_tenants_or_another_accounts_event_is_not_found(
    server: Server, judged: tuple[Judged, Console]
) -> None:
    j, console = judged
    other_key = server.key()
    stranger = Console(server, other_key)
    try:
        with server.client(other_key) as api:
            theirs = new_account(api)
        # Another organization: its own account, this organization's event → 404.
        r = stranger.act(theirs, "undo-event", referenceId=j.refs["ev-ok"])
        assert r.status_code == 404 and j.refs["ev-ok"] in r.text
        # …and this organization's account, under its session → 404 too.
        assert stranger.act(j.account, "undo-event", referenceId=j.refs["ev-ok"]).status_code == 404
    finally:
        stranger.close()
    with server.client(j.key) as api:
        sibling = new_account(api)
    wrong_account = console.act(sibling, "undo-event", referenceId=j.refs["ev-ok"])
    assert wrong_account.status_code == 404 and "not an event of account" in wrong_account.text
    unknown = console.act(j.account, "undo-event", referenceId="evt.none")
    assert unknown.status_code == 404
    assert _balance(server, j) == "0" and _api_status(server, j, "ev-ok") != "REVERTED"


def test_a_second_undo_says_already_reverted_and_a_refused_event_has_nothing_to_undo(
    server: Server, judged: tuple[Judged, Console]
) -> None:
    j, console = judged
    url = f"/console/accounts/{j.account}/actions/undo-event"
    confirmed = {"csrf": console.csrf, "referenceId": j.refs["ev-in"], "confirm": "yes"}
    # Two confirmations of one undo (a double click): the first gives back, the second not.
    assert console.http.post(url, data=confirmed).status_code == 303
    assert _balance(server, j) == "6"
    twice = console.http.post(url, data=confirmed)
    assert twice.status_code == 409 and "ev-in was already reverted" in twice.text
    review = console.http.post(url, data={"csrf": console.csrf, "referenceId": j.refs["ev-in"]})
    assert review.status_code == 409 and "already reverted" in review.text
    assert _balance(server, j) == "6"
    refused = console.act(j.account, "undo-event", referenceId=j.refs["ev-no"])
    assert refused.status_code == 409 and "nothing to undo" in refused.text
    missing = console.http.post(url, data={"csrf": console.csrf})
    assert missing.status_code == 400 and "referenceId is required" in missing.text
    with server.client(j.key) as api:
        log = ok_json(api.get("/events", params={"account_id": j.account, "status": "REVERTED"}))
    assert [e["eventPayload"]["id"] for e in log["events"]] == ["ev-in"]


def test_an_event_past_its_correction_grace_is_not_undone(server: Server) -> None:
    """The API's grace rule holds in the console: the entry the event drew from ended more
    than GRANTLEDGER_CORRECTION_GRACE_DAYS (7) ago → 409 with Togai's reason, nothing changed."""
    key = server.key()
    try:
        server.set_clock("2026-03-02T10:00:00Z")
        with server.client(key) as api:
            account = new_account(api)
            schema = new_schema(api)
            feature = new_feature(api, [(schema, "tokens")])
            body = {"granted": 10, "effectiveUntil": "2026-03-03T00:00:00Z"}
            ok_json(api.post(f"/accounts/{account}/features/{feature}/entries", json=body))
            event = usage_event(schema, account, "2026-03-02T10:00:00Z", "ev-late", tokens="4")
            assert api.post("/entitled", json=event).status_code == 200
            [shown] = ok_json(api.get("/events", params={"account_id": account}))["events"]
        server.set_clock("2026-03-12T10:00:00Z")  # the entry ended 9 days ago
        console = Console(server, key)
        try:
            late = console.act(account, "undo-event", referenceId=shown["referenceId"])
        finally:
            console.close()
        assert late.status_code == 409 and "Event was ingested in past pricing cycle" in late.text
        with server.client(key) as api:
            again = ok_json(api.get(f"/events/{shown['referenceId']}"))["events"][0]
            used = ok_json(api.get(f"/accounts/{account}/features/{feature}/entries"))["data"]
        assert again["ingestionStatus"]["status"] == "INGESTION_COMPLETED_EVENT_METERED"
        assert [str(e["used"]) for e in used] == ["4"]
    finally:
        server.set_clock(None)
