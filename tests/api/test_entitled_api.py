"""`POST /entitled`: the real-time gate (docs/api.md §7), over HTTP on SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.helpers import (
    assign_plan,
    error_message,
    feature_credits,
    feature_entries,
    grant_entry,
    new_account,
    new_feature,
    new_plan,
    new_schema,
    usage_event,
)
from tests.servers import Server


def _ok(r: httpx.Response) -> None:
    assert r.status_code == 200, r.text
    assert r.json() == {"success": True}


def _used(api: httpx.Client, account: str, feature: str) -> dict[str, Any]:
    return {e["id"]: e["used"] for e in feature_entries(api, account, feature)}


class Setup:
    """One account, one schema with `tokens` and `images`, a feature consuming each."""

    def __init__(self, api: httpx.Client) -> None:
        self.api = api
        self.schema = new_schema(api, ("tokens", "images"))
        self.tokens = new_feature(api, [(self.schema, "tokens")], name="Tokens")
        self.images = new_feature(api, [(self.schema, "images")], name="Images")
        self.account = new_account(api)

    def event(self, at: str, event_id: str | None = None, **attributes: str) -> dict[str, Any]:
        return usage_event(self.schema, self.account, at, event_id, **attributes)

    def send(self, at: str, event_id: str | None = None, **attributes: str) -> httpx.Response:
        return self.api.post("/entitled", json=self.event(at, event_id, **attributes))

    def balance(self, feature: str) -> Any:
        return feature_credits(self.api, self.account, feature)["balance"]


NOW = "2026-01-10T12:00:00Z"


def test_accepted_event_draws_and_answers_success(clock: Server, api: httpx.Client) -> None:
    clock.set_clock(NOW)
    s = Setup(api)
    grant_entry(api, s.account, s.tokens, 1)
    grant_entry(api, s.account, s.images, 10)
    r = s.send(NOW, "evt-1", tokens="0.1", images="2")
    _ok(r)
    _ok(s.send(NOW, "evt-2", tokens="0.2", images="0"))
    raw = api.get(f"/accounts/{s.account}/features/{s.tokens}").text
    assert '"balance":0.7,' in raw and "0.7000" not in raw
    [entry] = feature_entries(api, s.account, s.tokens)
    assert (entry["used"], entry["balance"]) == (0.3, 0.7)
    assert s.balance(s.images) == 8
    # The official client sends offset-less datetimes: they are UTC.
    _ok(s.send("2026-01-10T12:00:00", tokens="0.6999999999", images="0"))
    raw = api.get(f"/accounts/{s.account}/features/{s.tokens}").text
    assert '"balance":0.0000000001,' in raw
    _ok(s.send(NOW, tokens="0.0000000001", images="0"))
    assert s.balance(s.tokens) == 0


def test_draw_order_non_overage_first_by_end_start_id(clock: Server, api: httpx.Client) -> None:
    clock.set_clock(NOW)
    s = Setup(api)
    account, fid = s.account, s.tokens
    overage = grant_entry(
        api,
        account,
        fid,
        100,
        source="OVERAGE",
        effectiveFrom="2026-01-01T00:00:00Z",
        effectiveUntil="2026-01-20T00:00:00Z",
    )["id"]
    forever = grant_entry(api, account, fid, 5, effectiveFrom="2026-01-01T00:00:00Z")["id"]
    late_end = grant_entry(
        api,
        account,
        fid,
        5,
        effectiveFrom="2026-01-01T00:00:00Z",
        effectiveUntil="2026-03-01T00:00:00Z",
    )["id"]
    newer_start = grant_entry(
        api,
        account,
        fid,
        5,
        source="REFUND",
        effectiveFrom="2026-01-05T00:00:00Z",
        effectiveUntil="2026-02-01T00:00:00Z",
    )["id"]
    twins = sorted(
        grant_entry(
            api,
            account,
            fid,
            5,
            effectiveFrom="2026-01-02T00:00:00Z",
            effectiveUntil="2026-02-01T00:00:00Z",
        )["id"]
        for _ in range(2)
    )
    order = [*twins, newer_start, late_end, forever, overage]

    used: list[int] = [0] * len(order)
    for step in range(len(order) - 1):
        # Each event takes 3: it finishes what is left of one entry and starts the next.
        _ok(s.send(NOW, tokens="3", images="0"))
        taken = 3
        for i in range(len(order) - 1):
            give = min(5 - used[i], taken)
            used[i] += give
            taken -= give
        used[-1] += taken
        got = _used(api, account, fid)
        assert [got[e] for e in order] == used, f"after event {step + 1}"
    # 10 non-overage units are left; overage pays for the other 11.
    _ok(s.send(NOW, tokens="21", images="0"))
    credits = feature_credits(api, account, fid)
    assert (credits["balance"], credits["usedOverage"], credits["overageLimit"]) == (0, 11, 100)


def test_refusal_is_all_or_nothing_across_features(clock: Server, api: httpx.Client) -> None:
    clock.set_clock(NOW)
    s = Setup(api)
    grant_entry(api, s.account, s.tokens, 100)
    grant_entry(api, s.account, s.images, 5)
    grant_entry(api, s.account, s.images, 0.5, source="OVERAGE")
    message = error_message(s.send(NOW, "evt-a", tokens="10", images="6"), 403)
    assert s.images in message and "6" in message and "5.5" in message
    assert s.tokens not in message
    # Nothing was written: neither feature moved.
    assert s.balance(s.tokens) == 100 and s.balance(s.images) == 5
    assert set(_used(api, s.account, s.tokens).values()) == {0}
    assert set(_used(api, s.account, s.images).values()) == {0}
    # The refused id is spent all the same.
    assert "evt-a" in error_message(s.send(NOW, "evt-a", tokens="10", images="5.5"), 409)
    _ok(s.send(NOW, "evt-b", tokens="10", images="5.5"))
    assert s.balance(s.tokens) == 90
    assert feature_credits(api, s.account, s.images)["usedOverage"] == 0.5


def test_account_without_any_entry_is_refused(clock: Server, api: httpx.Client) -> None:
    clock.set_clock(NOW)
    s = Setup(api)
    message = error_message(s.send(NOW, tokens="1", images="0"), 403)
    assert s.tokens in message and "needed 1" in message and "available 0" in message
    # A zero quantity needs nothing.
    _ok(s.send(NOW, tokens="0", images="0"))


def test_schema_without_features_and_unknown_names(clock: Server, api: httpx.Client) -> None:
    clock.set_clock(NOW)
    s = Setup(api)
    lonely = new_schema(api, ("tokens",))
    r = api.post("/entitled", json=usage_event(lonely, s.account, NOW, tokens="1"))
    assert lonely in error_message(r, 400)
    r = api.post("/entitled", json=usage_event("no_such_schema", s.account, NOW, tokens="1"))
    assert "no_such_schema" in error_message(r, 400)
    r = api.post("/entitled", json=usage_event(s.schema, "no-account", NOW, tokens="1", images="0"))
    assert "no-account" in error_message(r, 400)
    r = api.post("/entitled", json=usage_event(s.schema, "a" * 60, NOW, tokens="1", images="0"))
    assert 400 <= r.status_code < 500, r.text
    # Dropping the association frees the schema again.
    r = api.patch(f"/features/{s.images}", json={"schemaAssociations": []})
    assert r.status_code == 200, r.text
    grant_entry(api, s.account, s.tokens, 1)
    _ok(s.send(NOW, tokens="1"))


def test_an_event_id_used_on_another_account_says_so(clock: Server, api: httpx.Client) -> None:
    """An id accepted for account A and re-sent for account B: the 409 says the id belongs to
    another account's event and that nothing was recorded for B, never "it was accepted"
    (which reads as B's usage recorded). The same within one group-committed batch."""
    clock.set_clock(NOW)
    s = Setup(api)
    other = new_account(api)
    for account in (s.account, other):
        grant_entry(api, account, s.tokens, 10)
    _ok(s.send(NOW, "shared-id", tokens="1", images="0"))
    resent = usage_event(s.schema, other, NOW, "shared-id", tokens="1", images="0")
    message = error_message(api.post("/entitled", json=resent), 409)
    assert message == (
        f"event id shared-id was already received for account {s.account}, "
        f"not {other}: nothing was recorded for {other}; send its event with an id of its own"
    ), message
    assert "accepted" not in message
    assert feature_credits(api, other, s.tokens)["balance"] == 10
    # The same account again is still told how the original was decided.
    again = error_message(s.send(NOW, "shared-id", tokens="1", images="0"), 409)
    assert again.endswith("; it was accepted")
    # Two copies racing in one batch: the second is told the same.
    bodies = [
        usage_event(s.schema, account, NOW, "raced-id", tokens="1", images="0")
        for account in (s.account, other)
    ]
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda b: api.post("/entitled", json=b), bodies))
    codes = sorted(a.status_code for a in answers)
    assert codes == [200, 409], [a.text for a in answers]
    [loser] = [a for a in answers if a.status_code == 409]
    assert "nothing was recorded for" in error_message(loser, 409)
    assert s.balance(s.tokens) + feature_credits(api, other, s.tokens)["balance"] == 18


def test_duplicate_event_ids_within_the_reach(clock: Server, api: httpx.Client) -> None:
    """An id is remembered for as long as an event with its timestamp could be accepted."""
    clock.set_clock("2026-01-01T00:00:00Z")
    s = Setup(api)
    grant_entry(api, s.account, s.tokens, 100, effectiveFrom="2025-12-01T00:00:00Z")
    _ok(s.send("2026-01-01T00:00:00Z", "dup", tokens="1", images="0"))
    message = error_message(s.send("2026-01-01T00:00:00Z", "dup", tokens="1", images="0"), 409)
    assert message == "event id dup was already received; it was accepted"
    # A refused original is told apart, with its reason, so a caller who lost it can tell.
    error_message(s.send("2026-01-01T00:00:00Z", "dup-refused", tokens="500", images="0"), 403)
    message = error_message(
        s.send("2026-01-01T00:00:00Z", "dup-refused", tokens="1", images="0"), 409
    )
    assert message.startswith(
        "event id dup-refused was already received; "
        f"it was refused: feature {s.tokens} is not covered"
    ), message
    # A different body under the same id is still the same event.
    error_message(s.send("2026-01-01T00:00:01Z", "dup", tokens="2", images="0"), 409)
    clock.set_clock("2026-02-15T00:00:01Z")
    # Day 46: a re-send with the original timestamp could still be accepted, so it is a copy.
    error_message(s.send("2026-01-01T00:00:00Z", "dup", tokens="1", images="0"), 409)
    error_message(s.send("2026-02-14T00:00:00Z", "dup", tokens="1", images="0"), 409)
    assert s.balance(s.tokens) == 99
    # Past the reach (366 days back, and a day more) the id may be used again.
    clock.set_clock("2027-01-03T00:00:01Z")
    _ok(s.send("2027-01-03T00:00:00Z", "dup", tokens="1", images="0"))
    assert s.balance(s.tokens) == 98
    clock.set_clock("2026-02-15T00:00:01Z")
    # Ids may be up to 512 characters long, and are remembered whole.
    long_id = "e" * 511 + "1"
    _ok(s.send("2026-02-15T00:00:01Z", long_id, tokens="1", images="0"))
    error_message(s.send("2026-02-15T00:00:01Z", long_id, tokens="1", images="0"), 409)
    _ok(s.send("2026-02-15T00:00:01Z", "e" * 511 + "2", tokens="1", images="0"))
    # Ids belong to one organization.
    with clock.client() as other:
        schema = new_schema(other, ("tokens",))
        fid = new_feature(other, [(schema, "tokens")])
        account = new_account(other)
        grant_entry(other, account, fid, 1)
        _ok(
            other.post(
                "/entitled",
                json=usage_event(schema, account, "2026-02-15T00:00:01Z", "dup", tokens="1"),
            )
        )


def test_events_without_id_are_each_accepted(clock: Server, api: httpx.Client) -> None:
    clock.set_clock(NOW)
    s = Setup(api)
    grant_entry(api, s.account, s.tokens, 10)
    for _ in range(3):
        _ok(s.send(NOW, tokens="2", images="0"))
    assert s.balance(s.tokens) == 4


def test_event_timestamp_decides_which_entries_count(clock: Server, api: httpx.Client) -> None:
    clock.set_clock("2026-01-10T00:00:00Z")
    s = Setup(api)
    window = grant_entry(
        api,
        s.account,
        s.tokens,
        10,
        effectiveFrom="2026-01-05T00:00:00Z",
        effectiveUntil="2026-01-08T00:00:00Z",
    )
    later = grant_entry(api, s.account, s.tokens, 10, effectiveFrom="2026-01-09T00:00:00Z")
    # At the 6th only the first entry counted; at the 8th it had ended (until is exclusive).
    _ok(s.send("2026-01-06T00:00:00Z", tokens="3", images="0"))
    error_message(s.send("2026-01-08T00:00:00Z", tokens="3", images="0"), 403)
    error_message(s.send("2026-01-04T23:59:59Z", tokens="1", images="0"), 403)
    _ok(s.send("2026-01-09T00:00:00Z", tokens="4", images="0"))
    used = _used(api, s.account, s.tokens)
    assert (used[window["id"]], used[later["id"]]) == (3, 4)
    # The first entry reads EXPIRED now, without any sweeper having run.
    statuses = {e["id"]: e["status"] for e in feature_entries(api, s.account, s.tokens)}
    assert statuses == {window["id"]: "EXPIRED", later["id"]: "ACTIVE"}


def test_late_events_draw_from_their_own_plan_cycle(clock: Server, api: httpx.Client) -> None:
    clock.set_clock("2026-01-05T00:00:00Z")
    s = Setup(api)
    plan = new_plan(
        api,
        [
            {"featureId": s.tokens, "creditsPerCycle": 10},
            {"featureId": s.images, "creditsPerCycle": 1},
        ],
    )
    sch = assign_plan(api, s.account, plan, "2026-01-01")["id"]
    # Nothing was read during January; in February a January event still finds January.
    clock.set_clock("2026-02-03T00:00:00Z")
    _ok(s.send("2026-01-31T23:00:00Z", tokens="10", images="1"))
    error_message(s.send("2026-01-31T23:30:00Z", tokens="1", images="0"), 403)
    _ok(s.send("2026-02-01T00:00:00Z", tokens="10", images="0"))
    used = _used(api, s.account, s.tokens)
    assert used == {f"{sch}#2026-02-01$PRICE_PLAN": 10, f"{sch}#2026-01-01$PRICE_PLAN": 10}
    assert s.balance(s.tokens) == 0 and s.balance(s.images) == 1


def test_patched_expiry_drops_the_entry_at_that_instant(clock: Server, api: httpx.Client) -> None:
    clock.set_clock("2026-01-10T00:00:00Z")
    s = Setup(api)
    entry = grant_entry(api, s.account, s.tokens, 10)
    path = f"/accounts/{s.account}/features/{s.tokens}/entries/{quote(entry['id'], safe='')}"
    r = api.patch(path, json={"effectiveUntil": "2026-01-10T12:00:00Z"})
    assert r.status_code == 200, r.text
    clock.set_clock("2026-01-10T12:30:00Z")
    _ok(s.send("2026-01-10T11:59:59Z", tokens="2", images="0"))
    error_message(s.send("2026-01-10T12:00:00Z", tokens="1", images="0"), 403)
    [after] = feature_entries(api, s.account, s.tokens)
    assert (after["status"], after["used"]) == ("EXPIRED", 2)
    assert s.balance(s.tokens) == 0


def test_voided_entry_cannot_be_drawn(clock: Server, api: httpx.Client) -> None:
    clock.set_clock(NOW)
    s = Setup(api)
    voided = grant_entry(api, s.account, s.tokens, 10)
    kept = grant_entry(api, s.account, s.tokens, 1)
    path = f"/accounts/{s.account}/features/{s.tokens}/entries/{voided['id']}/void"
    _ok(api.post(path))
    error_message(s.send(NOW, tokens="2", images="0"), 403)
    _ok(s.send(NOW, tokens="1", images="0"))
    assert _used(api, s.account, s.tokens) == {voided["id"]: 0, kept["id"]: 1}


BAD_EVENTS: list[tuple[str, Any, str]] = [
    ("attributes", [{"name": "tokens", "value": "ten"}], "attributes[0].value"),
    ("attributes", [{"name": "tokens", "value": "1e3"}], "attributes[0].value"),
    ("attributes", [{"name": "tokens", "value": "+1"}], "attributes[0].value"),
    # Digits of other scripts are not JSON-numeric strings (Python would read "٣" as 3).
    ("attributes", [{"name": "tokens", "value": "\u0663"}], "attributes[0].value"),
    ("attributes", [{"name": "tokens", "value": 1}], "attributes[0].value"),
    ("attributes", [{"name": f"a{i}", "value": "1"} for i in range(11)], "attributes"),
    (
        "attributes",
        [{"name": "tokens", "value": "1"}, {"name": "tokens", "value": "2"}],
        "distinct",
    ),
    ("attributes", [{"name": "tokens", "value": "-1"}, {"name": "images", "value": "0"}], "tokens"),
    # (A missing attribute consumes 0 and more than 10 decimals are rounded: test_wire_details.)
    (
        "attributes",
        [{"name": "tokens", "value": "1" * 19}, {"name": "images", "value": "0"}],
        "tokens",
    ),
    ("attributes", None, "attributes"),
    ("id", "x" * 513, "id"),
    ("id", "", "id"),
    ("timestamp", None, "timestamp"),
    ("timestamp", "yesterday", "timestamp"),
    ("timestamp", "0001-01-01T00:00:00+01:00", "timestamp"),
    ("timestamp", "9999-12-31T23:59:59-01:00", "timestamp"),
    ("dimensions", None, "dimensions"),
    ("dimensions", {"region": ""}, "dimensions"),
    ("schemaName", "s" * 51, "schemaName"),
    ("colour", "red", "colour"),
]


def test_bad_events_are_400_and_change_nothing(clock: Server, api: httpx.Client) -> None:
    # One account for every case keeps this fast; each case must leave it untouched.
    clock.set_clock(NOW)
    s = Setup(api)
    grant_entry(api, s.account, s.tokens, 100)
    grant_entry(api, s.account, s.images, 100)
    for field, value, named in BAD_EVENTS:
        body = s.event(NOW, "evt-" + secrets.token_hex(3), tokens="1", images="1")
        event = body["event"]
        if value is None:
            del event[field]
        else:
            event[field] = value
        message = error_message(api.post("/entitled", json=body), 400)
        assert named in message, (field, value, message)
        assert s.balance(s.tokens) == 100 and s.balance(s.images) == 100, (field, value)
    # A refused-as-malformed event does not spend its id.
    body = s.event(NOW, "evt-malformed", tokens="ten", images="1")
    error_message(api.post("/entitled", json=body), 400)
    body = s.event(NOW, "evt-negative", tokens="-1", images="1")
    error_message(api.post("/entitled", json=body), 400)
    _ok(s.send(NOW, "evt-malformed", tokens="1", images="1"))
    _ok(s.send(NOW, "evt-negative", tokens="1", images="1"))
    assert s.balance(s.tokens) == 98


def test_bad_envelopes_are_400(api: httpx.Client) -> None:
    assert "event" in error_message(api.post("/entitled", json={}), 400)
    assert "events" in error_message(api.post("/entitled", json={"event": {}, "events": []}), 400)
    r = api.post("/entitled", content=b"{not json", headers={"content-type": "application/json"})
    error_message(r, 400)


def test_events_cannot_reach_another_organization(clock: Server, api: httpx.Client) -> None:
    clock.set_clock(NOW)
    s = Setup(api)
    grant_entry(api, s.account, s.tokens, 10)
    grant_entry(api, s.account, s.images, 10)
    with clock.client() as other:
        r = other.post("/entitled", json=s.event(NOW, tokens="1", images="1"))
        assert 400 <= r.status_code < 500, r.text
        schema = new_schema(other, ("tokens", "images"))
        new_feature(other, [(schema, "tokens")])
        r = other.post("/entitled", json=usage_event(schema, s.account, NOW, tokens="1"))
        assert s.account in error_message(r, 400)
    assert s.balance(s.tokens) == 10 and s.balance(s.images) == 10


@pytest.mark.parametrize("cycle", ["WEEKLY", "MONTHLY", "QUARTERLY", "HALF_YEARLY", "ANNUALLY"])
def test_timestamps_at_the_ends_of_the_calendar(
    clock: Server, api: httpx.Client, cycle: str
) -> None:
    clock.set_clock(NOW)
    s = Setup(api)
    plan = new_plan(
        api,
        [
            {"featureId": s.tokens, "creditsPerCycle": 10},
            {"featureId": s.images, "creditsPerCycle": 1},
        ],
        cycle=cycle,
    )
    assign_plan(api, s.account, plan, "2026-01-01")
    # Cycles that have not begun yet grant nothing; the cycle after 9999-12 cannot be dated.
    for at in ("9999-12-31T23:59:59Z", "9999-12-25T00:00:00Z"):
        assert s.tokens in error_message(s.send(at, tokens="1", images="0"), 403)
    # An event may reach back at most 366 days.
    message = error_message(s.send("0001-01-01T00:00:00Z", tokens="1", images="0"), 400)
    assert "timestamp reaches too far back" in message
    _ok(s.send(NOW, tokens="10", images="1"))
    assert s.balance(s.tokens) == 0


def test_events_of_an_inactive_schema_are_refused(clock: Server, api: httpx.Client) -> None:
    clock.set_clock(NOW)
    s = Setup(api)
    grant_entry(api, s.account, s.tokens, 10)
    assert api.post(f"/event_schema/{s.schema}/deactivate").status_code == 200
    message = error_message(s.send(NOW, "evt-off", tokens="1", images="0"), 400)
    assert s.schema in message and "inactive" in message
    assert s.balance(s.tokens) == 10
    # Refused as bad input, the event did not use up its id.
    assert api.post(f"/event_schema/{s.schema}/activate").status_code == 200
    _ok(s.send(NOW, "evt-off", tokens="1", images="0"))
    assert s.balance(s.tokens) == 9
