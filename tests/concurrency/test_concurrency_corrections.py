"""Races on corrections (issue 20) across two `grantledger serve` processes sharing one
PostgreSQL database: many UNDOs of one event revert it once, and an UNDO racing new events on
the entry it gives back to frees its units to be drawn at most once. Requests are dealt
alternately to the two processes and are all in flight at once; nothing waits by sleeping."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from tests.concurrency.test_concurrency_entitlements import (
    Json,
    assert_ledger_consistent,
    entries,
    event,
    feature_credits,
    grant_entry,
    metered_feature,
    parse,
    post,
    race,
)
from tests.helpers import new_account
from tests.servers import Server

UNDO = "/events/correction?action=UNDO"


@pytest.fixture(scope="module")
def pg_servers(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Server]]:
    """Two independent `grantledger serve` processes on one PostgreSQL database."""
    servers: list[Server] = []
    try:
        for n in range(2):
            state: Path = tmp_path_factory.mktemp(f"pg-corrections-{n}")
            server = Server(database_url=pg_url, clock_file=state / "clock")
            server.start(state)
            servers.append(server)
        yield servers
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def key(pg_servers: list[Server]) -> str:
    return pg_servers[0].key()


def _status(response: Json) -> tuple[str, str]:
    first = response["data"][0]
    return first["status"], first.get("reason") or ""


def test_fifty_concurrent_undos_revert_an_event_once(
    pg_servers: list[Server], key: str, pg_url: str
) -> None:
    with pg_servers[0].client(key) as api:
        account = new_account(api)
        schema, (feature,) = metered_feature(api, "tokens")
        grant_entry(api, account, feature, 100)
        accepted = event(schema, account, "undo-me", tokens="7.25")
        post(api, "/entitled", accepted)
        assert feature_credits(api, account, feature)["balance"] == Decimal("92.75")

    responses, elapsed = race(pg_servers, key, [("POST", UNDO, accepted)] * 50)
    assert Counter(r.status_code for r in responses) == {200: 50}, [r.text for r in responses]
    outcomes = Counter(_status(parse(r)) for r in responses)
    assert outcomes == {
        ("REVERTED", "reverted: its draws were given back"): 1,
        ("FAILED", "event undo-me was already reverted"): 49,
    }, outcomes
    print(f"\n50 parallel UNDOs of one event on 2 processes: {dict(outcomes)}, {elapsed:.2f}s")

    with pg_servers[1].client(key) as api:
        # The units came back once: 100 again, not 107.25.
        assert feature_credits(api, account, feature)["balance"] == 100
        (entry,) = entries(api, account, feature).values()
        assert entry["used"] == 0
        r = api.get("/events", params={"account_id": account})
        (listed,) = parse(r)["events"]
        assert listed["ingestionStatus"]["status"] == "REVERTED"
        assert [d["reversed"] for d in listed["draws"]] == [True]
    assert_ledger_consistent(pg_url)


def _twenty(api: httpx.Client, account: str, feature: str, kind: str) -> str:
    """20 units of the feature for the account: a direct grant, or a plan's cycle allowance
    (its usage window is given back to as well). The entry's id."""
    if kind == "grant":
        return grant_entry(api, account, feature, 20)
    plan = "plan-" + secrets.token_hex(4)
    item = {"featureId": feature, "creditsPerCycle": 20, "overagePerCycle": 0}
    body = {"id": plan, "name": "Twenty", "type": "BILLING", "cycle": "MONTHLY"}
    post(api, "/entitlement_plans", {**body, "features": [item]})
    # Three days into the current cycle: every racing event falls in the same one.
    anchor = (datetime.now(UTC) - timedelta(days=3)).date()
    schedule = post(
        api, f"/accounts/{account}/plans", {"planId": plan, "effectiveFrom": str(anchor)}
    )["id"]
    return f"{schedule}#{anchor}$PRICE_PLAN"


@pytest.mark.parametrize("kind", ["grant", "plan"])
def test_an_undo_racing_new_events_frees_its_units_once(
    pg_servers: list[Server], key: str, pg_url: str, kind: str
) -> None:
    """An entry of 20 exhausted by one event; its UNDO (sent five times) races 60 gate events
    and 20 ingested events of one unit each: together they draw at most the 20 units freed."""
    with pg_servers[0].client(key) as api:
        account = new_account(api)
        schema, (feature,) = metered_feature(api, "tokens")
        entry_id = _twenty(api, account, feature, kind)
        big = event(schema, account, "big", tokens="20")
        post(api, "/entitled", big)
        r = api.post("/entitled", json=event(schema, account, "none-left", tokens="1"))
        assert r.status_code == 403, r.text

    requests: list[tuple[str, str, Json | None]] = []
    for n in range(80):
        if n % 16 == 8:
            requests.append(("POST", UNDO, big))
        if n % 4 == 3:
            requests.append(("POST", "/ingest", event(schema, account, f"ing-{n}", tokens="1")))
        else:
            requests.append(("POST", "/entitled", event(schema, account, f"new-{n}", tokens="1")))
    responses, elapsed = race(pg_servers, key, requests)

    undos = [parse(r) for r in responses if r.request.url.path == "/events/correction"]
    outcomes = Counter(_status(u)[0] for u in undos)
    assert outcomes == {"REVERTED": 1, "FAILED": 4}, outcomes
    gate = Counter(r.status_code for r in responses if r.request.url.path == "/entitled")
    assert set(gate) <= {200, 403}, gate
    ingested = [parse(r) for r in responses if r.request.url.path == "/ingest"]
    assert all(i["statusCode"] == 202 for i in ingested), ingested
    drawn_by_ingest = sum(1 for i in ingested if not i["details"].get("shortfall"))
    drawn = gate[200] + drawn_by_ingest
    assert drawn <= 20, (gate, drawn_by_ingest)
    print(
        f"\nUNDO x5 racing 60 /entitled + 20 /ingest on an exhausted {kind}: {gate[200]} "
        f"accepted, {drawn_by_ingest} ingested with units, {elapsed:.2f}s"
    )

    with pg_servers[1].client(key) as api:
        listed = entries(api, account, feature)
        assert listed[entry_id]["used"] == drawn
        left = 20 - drawn
        # What is left is there exactly once: all of it can be drawn, then nothing more.
        if left:
            post(api, "/entitled", event(schema, account, "rest", tokens=str(left)))
        r = api.post("/entitled", json=event(schema, account, "one-more", tokens="1"))
        assert r.status_code == 403, r.text
        # As recorded, no instant ever held a unit twice: `asOf` at each instant an event was
        # judged shows 0..20 left (a draw dated before the UNDO that freed its units would
        # show the entry used beyond what it granted).
        path = f"/accounts/{account}/features/{feature}"
        for instant in _judged_at(api, account):
            r = api.get(path, params={"asOf": instant})
            assert r.status_code == 200, r.text
            assert 0 <= parse(r)["balance"] <= 20, (instant, r.text)
    assert_ledger_consistent(pg_url)


def _judged_at(api: httpx.Client, account: str) -> list[str]:
    """When each of the account's events was judged (every page)."""
    instants: set[str] = set()
    params: dict[str, str] = {"account_id": account}
    while True:
        r = api.get("/events", params=params)
        assert r.status_code == 200, r.text
        body = parse(r)
        instants |= {e["createdAt"] for e in body["events"]}
        if not body.get("nextToken"):
            return sorted(instants)
        params["nextToken"] = body["nextToken"]


def test_undos_and_redos_of_one_event_racing(
    pg_servers: list[Server], key: str, pg_url: str
) -> None:
    """10 REDOs and 10 UNDOs of one event, interleaved over both processes: each acts on the
    judgement standing when it gets the account, so the REDOs that come first each replace it
    in turn, one UNDO reverts the last, and everything after fails "already reverted". Every
    judgement is reverted once and the units end where they started."""
    with pg_servers[0].client(key) as api:
        account = new_account(api)
        schema, (feature,) = metered_feature(api, "tokens")
        grant_entry(api, account, feature, 100)
        accepted = event(schema, account, "churn", tokens="9")
        post(api, "/entitled", accepted)

    redo = "/events/correction?action=REDO"
    requests: list[tuple[str, str, Json | None]] = [
        ("POST", redo if n % 2 == 0 else UNDO, accepted) for n in range(20)
    ]
    responses, elapsed = race(pg_servers, key, requests)
    assert Counter(r.status_code for r in responses) == {200: 20}, [r.text for r in responses]
    outcomes = Counter(_status(parse(r))[0] for r in responses)
    failed = [_status(parse(r))[1] for r in responses if _status(parse(r))[0] == "FAILED"]
    assert outcomes["REVERTED"] == 1, outcomes
    redone = outcomes["REVERTED_AND_REINGESTED"]
    assert outcomes["FAILED"] == 19 - redone, outcomes
    assert set(failed) <= {"event churn was already reverted"}, failed
    print(f"\n10 REDOs and 10 UNDOs of one event on 2 processes: {dict(outcomes)}, {elapsed:.2f}s")

    with pg_servers[1].client(key) as api:
        assert feature_credits(api, account, feature)["balance"] == 100
        r = api.get("/events", params={"account_id": account})
        listed = parse(r)["events"]
        # The first judgement and one per REDO that went through, each reverted once.
        assert len(listed) == 1 + redone, listed
        assert {e["ingestionStatus"]["status"] for e in listed} == {"REVERTED"}
        assert all(d["reversed"] for e in listed for d in e["draws"])
    assert_ledger_consistent(pg_url)
