"""Races on the real-time gate `POST /entitled` against one PostgreSQL database.

The two races of the brief (unit events against a fixed allowance, copies of one event id) run
once against one `grantledger serve` process and once with requests dealt alternately to two
processes sharing the database; the others run on the two processes only. Correctness must
come from row locks and unique constraints, never from process memory. All requests of a race
are in flight at once (asyncio + httpx over loopback, bounded connections and deadline);
nothing waits by sleeping.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.helpers import new_account
from tests.servers import Server, run_cli

# Connections each client keeps open per server; the rest of a race queues client-side.
CONNECTIONS = 48
RACE_DEADLINE = 120.0

Json = dict[str, Any]


@pytest.fixture(params=[1, 2], ids=["one-process", "two-processes"])
def fleet(request: pytest.FixtureRequest, pg_servers: list[Server]) -> list[Server]:
    count: int = request.param
    return pg_servers[:count]


@pytest.fixture
def key(pg_servers: list[Server]) -> str:
    return pg_servers[0].key()


def parse(response: httpx.Response) -> Json:
    body: Json = response.json(parse_float=Decimal)
    return body


async def _race(
    fleet: list[Server], key: str, requests: list[tuple[str, str, Json | None]]
) -> list[httpx.Response]:
    """Send every (method, path, body) at once; request i goes to process i mod len(fleet)."""
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    clients = [
        httpx.AsyncClient(
            base_url=s.base_url,
            headers={"Authorization": f"Bearer {key}"},
            timeout=60,
            limits=limits,
        )
        for s in fleet
    ]
    try:

        async def send(n: int, method: str, path: str, body: Json | None) -> httpx.Response:
            return await clients[n % len(clients)].request(method, path, json=body)

        outcomes = await asyncio.wait_for(
            asyncio.gather(*(send(n, *r) for n, r in enumerate(requests)), return_exceptions=True),
            timeout=RACE_DEADLINE,
        )
    finally:
        for c in clients:
            await c.aclose()
    failed = [(requests[n][:2], o) for n, o in enumerate(outcomes) if isinstance(o, Exception)]
    if failed:
        logs = "\n".join(s.log_path.read_text()[-3000:] for s in fleet if s.log_path)
        raise AssertionError(f"{len(failed)} request(s) got no answer: {failed[:5]!r}\n{logs}")
    return [o for o in outcomes if isinstance(o, httpx.Response)]


def race(
    fleet: list[Server], key: str, requests: list[tuple[str, str, Json | None]]
) -> tuple[list[httpx.Response], float]:
    started = time.monotonic()
    responses = asyncio.run(_race(fleet, key, requests))
    return responses, time.monotonic() - started


def post(api: httpx.Client, path: str, body: Json, status: int = 200) -> Json:
    r = api.post(path, json=body)
    assert r.status_code == status, r.text
    return parse(r)


def metered_feature(api: httpx.Client, *attributes: str) -> tuple[str, list[str]]:
    """A schema with the given attributes and one feature consuming each: (schema, features)."""
    schema = "usage_" + secrets.token_hex(4)
    post(
        api,
        "/event_schema",
        {"name": schema, "attributes": [{"name": a} for a in attributes], "dimensions": []},
        201,
    )
    feature_ids = []
    for attribute in attributes:
        feature_id = f"{attribute}-{secrets.token_hex(3)}"
        post(
            api,
            "/features",
            {
                "id": feature_id,
                "name": f"Metered {attribute}",
                "schemaAssociations": [{"schemaName": schema, "attributeName": attribute}],
            },
        )
        feature_ids.append(feature_id)
    return schema, feature_ids


def grant_entry(api: httpx.Client, account: str, feature: str, granted: int, **fields: Any) -> str:
    body = {"granted": granted, "effectiveFrom": "2020-01-01T00:00:00Z", **fields}
    entry = post(api, f"/accounts/{account}/features/{feature}/entries", body)
    assert entry["granted"] == granted and entry["used"] == 0, entry
    entry_id: str = entry["id"]
    return entry_id


def event(schema: str, account: str, event_id: str, **quantities: str) -> Json:
    # A minute in the past: surely inside every entry's window on every process's clock.
    stamp = (datetime.now(UTC) - timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    return {
        "event": {
            "schemaName": schema,
            "id": event_id,
            "timestamp": stamp,
            "accountId": account,
            "attributes": [{"name": k, "value": v} for k, v in quantities.items()],
            "dimensions": {},
        }
    }


def feature_credits(api: httpx.Client, account: str, feature: str) -> Json:
    r = api.get(f"/accounts/{account}/features/{feature}")
    assert r.status_code == 200, r.text
    return parse(r)


def entries(api: httpx.Client, account: str, feature: str) -> dict[str, Json]:
    r = api.get(f"/accounts/{account}/features/{feature}/entries")
    assert r.status_code == 200, r.text
    body = parse(r)
    assert body.get("nextToken") is None
    return {e["id"]: e for e in body["data"]}


def assert_ledger_consistent(pg_url: str) -> None:
    result = run_cli(pg_url, "verify")
    assert result.returncode == 0, result.stdout + result.stderr


def test_parallel_unit_events_never_overdraw(fleet: list[Server], key: str, pg_url: str) -> None:
    """300 events of 1 against 100 units: exactly 100 accepted, the rest refused, none lost."""
    with fleet[0].client(key) as api:
        account = new_account(api)
        schema, (feature,) = metered_feature(api, "tokens")
        soon = (datetime.now(UTC) + timedelta(days=30)).isoformat()
        first = grant_entry(api, account, feature, 40, effectiveUntil=soon)
        second = grant_entry(api, account, feature, 40, source="REFUND")
        overage = grant_entry(api, account, feature, 20, source="OVERAGE")
    balance_path = f"/accounts/{account}/features/{feature}"

    requests: list[tuple[str, str, Json | None]] = []
    for n in range(300):
        requests.append(("POST", "/entitled", event(schema, account, f"ev-{n}", tokens="1")))
        if n % 10 == 0:
            requests.append(("GET", balance_path, None))  # reads interleaved with the writers
    responses, elapsed = race(fleet, key, requests)

    posted = [r for r in responses if r.request.method == "POST"]
    statuses = Counter(r.status_code for r in posted)
    assert statuses == {200: 100, 403: 200}, {
        s: next(r.text for r in posted if r.status_code == s) for s in statuses
    }
    for r in posted:
        body = parse(r)
        if r.status_code == 200:
            assert body == {"success": True}
        else:
            assert feature in body["message"] and "needed 1" in body["message"], body
    for r in (r for r in responses if r.request.method == "GET"):
        assert r.status_code == 200, r.text
        seen = parse(r)
        assert 0 <= seen["balance"] <= seen["granted"] == 80, seen
        assert 0 <= seen["usedOverage"] <= seen["overageLimit"] == 20, seen
        # Included units are drawn before any overage: overage in use means balance is gone.
        assert seen["usedOverage"] == 0 or seen["balance"] == 0, seen
    print(
        f"\n300 parallel /entitled on {len(fleet)} process(es): {statuses[200]} accepted, "
        f"{statuses[403]} refused, {elapsed:.2f}s"
    )

    with fleet[-1].client(key) as api:
        final = feature_credits(api, account, feature)
        assert (final["granted"], final["balance"]) == (80, 0), final
        assert (final["overageLimit"], final["usedOverage"]) == (20, 20), final
        listed = entries(api, account, feature)
        assert set(listed) == {first, second, overage}
        for entry in listed.values():
            assert entry["status"] == "ACTIVE"
            assert entry["used"] == entry["granted"] and entry["balance"] == 0, entry
        # Refused events drew nothing and remain refused: a repeat of one is a duplicate.
        r = api.post("/entitled", json=event(schema, account, "ev-299", tokens="1"))
        assert r.status_code == 409, r.text
    assert_ledger_consistent(pg_url)


def test_parallel_copies_of_one_event_id(fleet: list[Server], key: str, pg_url: str) -> None:
    """60 copies of one id: one answer, 59 duplicates, whether the first was accepted or not;
    each duplicate says how the original was decided."""
    with fleet[0].client(key) as api:
        rich = new_account(api)
        poor = new_account(api)
        schema, (feature,) = metered_feature(api, "tokens")
        grant_entry(api, rich, feature, 1000)
        grant_entry(api, poor, feature, 2)

    accepted_body = event(schema, rich, "dup-accepted", tokens="3")
    refused_body = event(schema, poor, "dup-refused", tokens="3")
    requests: list[tuple[str, str, Json | None]] = []
    for _ in range(60):
        requests.append(("POST", "/entitled", accepted_body))
        requests.append(("POST", "/entitled", refused_body))
    responses, elapsed = race(fleet, key, requests)

    accepted = Counter(r.status_code for r in responses[0::2])
    refused = Counter(r.status_code for r in responses[1::2])
    assert accepted == {200: 1, 409: 59}, accepted
    assert refused == {403: 1, 409: 59}, refused
    for r in responses[0::2]:
        if r.status_code == 409:
            assert parse(r)["message"].endswith(
                "dup-accepted was already received; it was accepted"
            ), r.text
    for r in responses[1::2]:
        if r.status_code == 409:
            message = parse(r)["message"]
            assert "dup-refused" in message and "it was refused: feature" in message, r.text
            assert "needed 3, available 2" in message, r.text
    print(
        f"\n2x60 parallel copies of one event id on {len(fleet)} process(es): "
        f"{dict(accepted)} / {dict(refused)}, {elapsed:.2f}s"
    )

    with fleet[-1].client(key) as api:
        assert feature_credits(api, rich, feature)["balance"] == 997
        assert feature_credits(api, poor, feature)["balance"] == 2
        (entry,) = entries(api, rich, feature).values()
        assert entry["used"] == 3
    assert_ledger_consistent(pg_url)


def test_parallel_events_across_two_features_are_all_or_nothing(
    pg_servers: list[Server], key: str, pg_url: str
) -> None:
    """Each event needs 1 of A and 2 of B: accepted events draw both, refused draw neither."""
    with pg_servers[0].client(key) as api:
        account = new_account(api)
        schema, (feature_a, feature_b) = metered_feature(api, "calls", "bytes")
        grant_entry(api, account, feature_a, 100)
        grant_entry(api, account, feature_b, 50)
        grant_entry(api, account, feature_b, 30, source="OVERAGE")

    requests: list[tuple[str, str, Json | None]] = [
        ("POST", "/entitled", event(schema, account, f"pair-{n}", calls="1", bytes="2"))
        for n in range(90)
    ]
    responses, elapsed = race(pg_servers, key, requests)
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 40, 403: 50}, statuses
    for r in responses:
        if r.status_code == 403:
            assert feature_b in parse(r)["message"], r.text
    print(
        f"\n90 parallel two-feature events on {len(pg_servers)} process(es): {statuses[200]} "
        f"accepted, {elapsed:.2f}s"
    )

    with pg_servers[-1].client(key) as api:
        a = feature_credits(api, account, feature_a)
        b = feature_credits(api, account, feature_b)
        assert a["balance"] == 100 - 40, a  # one unit of A per accepted event, none otherwise
        assert (b["balance"], b["usedOverage"], b["overageLimit"]) == (0, 30, 30), b
    assert_ledger_consistent(pg_url)


def test_voids_and_patches_racing_with_events(
    pg_servers: list[Server], key: str, pg_url: str
) -> None:
    """Entries voided, shrunk and cut short while events draw from them: each change and each
    draw sees the other's committed state, so no entry ends up below 0 or above granted."""
    now = datetime.now(UTC)
    with pg_servers[0].client(key) as api:
        account = new_account(api)
        schema, (feature,) = metered_feature(api, "tokens")
        # Draw order is soonest end first: these are consumed one after another, as listed.
        ids = [
            grant_entry(
                api, account, feature, 30, effectiveUntil=(now + timedelta(days=d)).isoformat()
            )
            for d in (30, 40, 50)
        ]
        ids.append(grant_entry(api, account, feature, 30))
    base = f"/accounts/{account}/features/{feature}/entries"
    cut_short = (now + timedelta(days=1)).replace(microsecond=0)

    Request = tuple[str, str, Json | None]
    void_first: Request = ("POST", f"{base}/{ids[0]}/void", None)
    shrink_second: Request = ("PATCH", f"{base}/{ids[1]}", {"granted": 20})
    shorten_third: Request = (
        "PATCH",
        f"{base}/{ids[2]}",
        {"effectiveUntil": cut_short.isoformat()},
    )
    # Each change is queued where its entry is likely being drawn from.
    changes = {25: void_first, 55: shrink_second, 85: shorten_third}
    requests: list[Request] = []
    for n in range(120):
        requests.append(("POST", "/entitled", event(schema, account, f"mix-{n}", tokens="1")))
        if n in changes:
            requests.append(changes[n])
    responses, elapsed = race(pg_servers, key, requests)

    answers = {(r.request.method, r.request.url.path): r for r in responses}
    void = answers[void_first[:2]]
    assert void.status_code == 200 and parse(void) == {"success": True}, void.text
    shrink = answers[shrink_second[:2]]
    assert shrink.status_code in (200, 400), shrink.text  # 400 when more than 20 was used
    if shrink.status_code == 400:
        assert "granted" in parse(shrink)["message"], shrink.text
    assert answers[shorten_third[:2]].status_code == 200, answers[shorten_third[:2]].text
    events = [r for r in responses if r.request.url.path == "/entitled"]
    statuses = Counter(r.status_code for r in events)
    assert set(statuses) <= {200, 403}, statuses
    print(
        f"\n120 /entitled racing a void and two PATCHes on {len(pg_servers)} process(es): "
        f"{statuses[200]} accepted, shrink {shrink.status_code}, {elapsed:.2f}s"
    )

    with pg_servers[-1].client(key) as api:
        listed = entries(api, account, feature)
        for entry in listed.values():
            assert 0 <= entry["used"] <= entry["granted"], entry
            # A voided entry's remainder is gone: it shows balance 0 (docs/api.md, Entry).
            left = 0 if entry["status"] == "VOIDED" else entry["granted"] - entry["used"]
            assert entry["balance"] == left, entry
        assert listed[ids[0]]["status"] == "VOIDED" and listed[ids[0]]["granted"] == 30
        assert listed[ids[1]]["granted"] == (20 if shrink.status_code == 200 else 30)
        assert datetime.fromisoformat(listed[ids[2]]["effectiveUntil"]) == cut_short
        # Every accepted unit is exactly one unit of some entry's `used`.
        assert sum(e["used"] for e in listed.values()) == statuses[200]
        live = [e for i, e in listed.items() if i != ids[0]]
        assert statuses[200] <= sum(e["granted"] for e in live) + listed[ids[0]]["used"]
        final = feature_credits(api, account, feature)
        assert final["granted"] == sum(e["granted"] for e in live)
        assert final["balance"] == sum(e["balance"] for e in live)
    assert_ledger_consistent(pg_url)


def test_parallel_events_materialize_one_plan_cycle(
    pg_servers: list[Server], key: str, pg_url: str
) -> None:
    """The cycle's entries do not exist until usage asks for them: racing events create them
    once, then share them."""
    with pg_servers[0].client(key) as api:
        account = new_account(api)
        schema, (feature,) = metered_feature(api, "tokens")
        plan = "plan-" + secrets.token_hex(4)
        post(
            api,
            "/entitlement_plans",
            {
                "id": plan,
                "name": "Monthly tokens",
                "type": "BILLING",
                "cycle": "MONTHLY",
                "features": [{"featureId": feature, "creditsPerCycle": 80, "overagePerCycle": 20}],
            },
        )
        # Three days into the current cycle: every racing event falls in the same one.
        anchor = (datetime.now(UTC) - timedelta(days=3)).date()
        schedule = post(
            api, f"/accounts/{account}/plans", {"planId": plan, "effectiveFrom": str(anchor)}
        )["id"]

    requests: list[tuple[str, str, Json | None]] = [
        ("POST", "/entitled", event(schema, account, f"cyc-{n}", tokens="1")) for n in range(130)
    ]
    responses, elapsed = race(pg_servers, key, requests)
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 100, 403: 30}, statuses
    print(
        f"\n130 parallel /entitled on a fresh plan cycle on {len(pg_servers)} process(es): "
        f"{statuses[200]} accepted, {elapsed:.2f}s"
    )

    with pg_servers[-1].client(key) as api:
        listed = entries(api, account, feature)
        assert set(listed) == {
            f"{schedule}#{anchor}$PRICE_PLAN",
            f"{schedule}#{anchor}$OVERAGE",
        }, listed
        final = feature_credits(api, account, feature)
        assert (final["granted"], final["balance"]) == (80, 0), final
        assert (final["overageLimit"], final["usedOverage"]) == (20, 20), final
    assert_ledger_consistent(pg_url)
