"""Races on feature holds against one PostgreSQL database, requests dealt alternately to two
`grantledger serve` processes: holds never overdraw, and settle, release and expiry of one hold
happen once whatever races between them. And a server killed with SIGKILL between a hold and
its settle: after the restart the hold settles or expires on time and nothing is lost."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.concurrency.test_concurrency_entitlements import (
    Json,
    assert_ledger_consistent,
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


@pytest.fixture(scope="module")
def fleet(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Server]]:
    """Two independent processes on one database (each a pool of 5 connections)."""
    servers: list[Server] = []
    try:
        for n in range(2):
            state: Path = tmp_path_factory.mktemp(f"pg-holds-{n}")
            server = Server(database_url=pg_url, clock_file=state / "clock")
            server.start(state)
            servers.append(server)
        yield servers
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def key(fleet: list[Server]) -> str:
    return fleet[0].key()


def _hold(hold_id: str, feature: str, units: int, expires_in: str = "PT10M") -> Json:
    return {
        "id": hold_id,
        "features": [{"featureId": feature, "units": units}],
        "expiresIn": expires_in,
    }


def _setup(fleet: list[Server], key: str, granted: int) -> tuple[str, str, str]:
    with fleet[0].client(key) as api:
        account = new_account(api)
        schema, (feature,) = metered_feature(api, "tokens")
        grant_entry(api, account, feature, granted)
    return account, schema, feature


def test_300_parallel_holds_then_settles_racing_releases(
    fleet: list[Server], key: str, pg_url: str
) -> None:
    """300 holds of 1 on an entry of 100: exactly 100 held. Then each held one is settled and
    released at once (and settled twice): exactly one of settle and release wins."""
    account, _, feature = _setup(fleet, key, 100)
    base = f"/accounts/{account}/feature_holds"
    requests: list[tuple[str, str, Json | None]] = [
        ("POST", base, _hold(f"h-{n}", feature, 1)) for n in range(300)
    ]
    responses, elapsed = race(fleet, key, requests)
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 100, 403: 200}, {
        s: next(r.text for r in responses if r.status_code == s) for s in statuses
    }
    held = sorted(parse(r)["id"] for r in responses if r.status_code == 201)
    with fleet[1].client(key) as api:
        assert feature_credits(api, account, feature)["balance"] == 0
    print(f"\n300 parallel feature holds on 2 processes: 100 held, {elapsed:.2f}s")

    races: list[tuple[str, str, Json | None]] = []
    for hold_id in held:
        settle = {"features": [{"featureId": feature, "units": 1}]}
        races.append(("POST", f"{base}/{hold_id}/settle", settle))
        races.append(("POST", f"{base}/{hold_id}/release", None))
        races.append(("POST", f"{base}/{hold_id}/settle", settle))
    responses, elapsed = race(fleet, key, races)
    outcome: dict[str, set[str]] = {}
    for r in responses:
        assert r.status_code in (200, 409), r.text
        if r.status_code == 200:
            outcome.setdefault(r.url.path.split("/")[-2], set()).add(parse(r)["status"])
    assert set(outcome) == set(held)
    assert all(len(s) == 1 for s in outcome.values()), outcome  # one winner per hold
    settled = sum(1 for s in outcome.values() if s == {"SETTLED"})
    with fleet[0].client(key) as api:
        final = feature_credits(api, account, feature)
        assert final["balance"] == 100 - settled, (final, settled)
        for hold_id, won in outcome.items():
            assert parse(api.get(f"{base}/{hold_id}"))["status"] in won
    print(f"300 racing settles and releases: {settled} settled, {elapsed:.2f}s")
    assert_ledger_consistent(pg_url)


def test_expiry_races_settles_releases_and_the_gate(
    fleet: list[Server], key: str, pg_url: str
) -> None:
    """Twenty holds of 5 past their limit, met at once by their settles, their releases and
    twenty gate events of 5: every settle and release is refused (expired), every event is
    accepted on the units the expiry gave back, and each hold is given back once."""
    account, schema, feature = _setup(fleet, key, 100)
    base = f"/accounts/{account}/feature_holds"
    with fleet[0].client(key) as api:
        for n in range(20):
            post(api, base, _hold(f"x-{n}", feature, 5, "PT1M"), 201)
        assert feature_credits(api, account, feature)["balance"] == 0
    later = (datetime.now(UTC) + timedelta(minutes=2)).isoformat().replace("+00:00", "Z")
    for server in fleet:
        server.set_clock(later)
    try:
        races: list[tuple[str, str, Json | None]] = []
        for n in range(20):
            settle = {"features": [{"featureId": feature, "units": 5}]}
            races.append(("POST", f"{base}/x-{n}/settle", settle))
            races.append(("POST", "/entitled", _now_event(schema, account, f"g-{n}", later)))
            races.append(("POST", f"{base}/x-{n}/release", None))
        responses, _ = race(fleet, key, races)
        for r in responses:
            if r.request.url.path == "/entitled":
                assert r.status_code == 200, r.text
            else:
                assert r.status_code == 409 and "expired" in r.text, r.text
        with fleet[1].client(key) as api:
            assert feature_credits(api, account, feature)["balance"] == 0
            listed = parse(api.get(base, params={"status": "EXPIRED"}))["data"]
            assert len(listed) == 20
    finally:
        for server in fleet:
            server.set_clock(None)
    assert asyncio.run(_reversal_counts(pg_url, account)) == {5: 20}
    assert_ledger_consistent(pg_url)


def _now_event(schema: str, account: str, event_id: str, at: str) -> Json:
    body = event(schema, account, event_id, tokens="5")
    body["event"]["timestamp"] = at
    return body


async def _reversal_counts(pg_url: str, account: str) -> Counter[Any]:
    """Per hold event of the account, the units reversed: a second reversal would show."""
    conn = await asyncpg.connect(pg_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await conn.fetch(
            "SELECT h.pk, coalesce(sum(r.amount), 0) AS back FROM feature_holds h "
            "LEFT JOIN reversals r ON r.org_id = h.org_id AND r.event_pk = h.event_pk "
            "WHERE h.account_id = $1 GROUP BY h.pk",
            account,
        )
    finally:
        await conn.close()
    return Counter(int(r["back"]) for r in rows)


def test_kill_9_between_hold_and_settle(pg_url: str, tmp_path: Path) -> None:
    """A server killed with SIGKILL holding two reservations: after the restart one is settled
    and the other expires at its limit (the sweeper writes it), and verify finds the ledger
    whole."""
    server = Server(
        database_url=pg_url,
        clock_file=tmp_path / "clock",
        env={"GRANTLEDGER_SWEEP_INTERVAL": "0.2"},
    )
    server.start(tmp_path)
    try:
        key = server.key()
        account, _, feature = _setup([server], key, 100)
        base = f"/accounts/{account}/feature_holds"
        with server.client(key) as api:
            post(api, base, _hold("keep", feature, 30), 201)
            lapse = post(api, base, _hold("lapse", feature, 50, "PT2S"), 201)
        assert server.process is not None
        server.process.kill()  # SIGKILL: no shutdown at all
        server.process.wait(timeout=10)
        server.start(tmp_path)  # the same database and port, a new process
        with server.client(key) as api:
            assert feature_credits(api, account, feature)["balance"] in (20, 70)
            settled = post(
                api, f"{base}/keep/settle", {"features": [{"featureId": feature, "units": 12}]}
            )
            assert settled["status"] == "SETTLED"
            expires = datetime.fromisoformat(lapse["expiresAt"].replace("Z", "+00:00"))
            time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()))
            # At its limit it stops counting on every read, written by the sweeper or not.
            assert parse(api.get(f"{base}/lapse"))["status"] == "EXPIRED"
            assert feature_credits(api, account, feature)["balance"] == 88
            deadline = time.monotonic() + 20
            while asyncio.run(_reversal_counts(pg_url, account)) != Counter({30: 1, 50: 1}):
                assert time.monotonic() < deadline, "the sweeper did not write the expiry"
                time.sleep(0.2)
            assert feature_credits(api, account, feature)["balance"] == 88
    finally:
        server.stop()
    assert_ledger_consistent(pg_url)
