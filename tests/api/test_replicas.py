"""Reads that may lag go to a real streaming replica, within GRANTLEDGER_READ_MAX_LAG_MS.

The suite makes its own primary and replica (tests/clusters.py: `initdb`, `pg_basebackup -R`,
as the `postgres` user, on ports of their own), once per session, and removes them after.
What decides and the current balances read the primary; lists read the replica while it is
within the bound, the primary once it falls behind, and the primary while it is down.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from grantledger.config import replica_options_from_env
from tests.clusters import Cluster, make_cluster
from tests.helpers import (
    assign_plan,
    balance,
    grant,
    grant_entry,
    new_account,
    new_feature,
    new_plan,
    new_schema,
    ok_json,
)
from tests.servers import Server

# Small, so a paused replica passes it quickly; the default is 1000.
MAX_LAG_MS = 300
DATABASE = "grantledger"


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    made = make_cluster()
    yield made
    made.remove()


def _sql(url: str, statement: str) -> object:
    async def run() -> object:
        conn = await asyncpg.connect(url, timeout=10)
        try:
            return await conn.fetchval(statement)
        finally:
            await conn.close()

    return asyncio.run(run())


@pytest.fixture(scope="module")
def replicated(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    _sql(cluster.primary.url(), f"CREATE DATABASE {DATABASE}")
    state = tmp_path_factory.mktemp("replicated")
    server = Server(
        database_url=cluster.primary.url(DATABASE),
        clock_file=state / "clock",
        env={
            "GRANTLEDGER_READ_DATABASE_URL": cluster.replica.url(DATABASE),
            "GRANTLEDGER_READ_MAX_LAG_MS": str(MAX_LAG_MS),
            "GRANTLEDGER_DB_POOLER": "",  # straight to these clusters, whatever the run uses
        },
    )
    server.start(state)
    yield server
    server.stop()


@pytest.fixture
def api(replicated: Server) -> Iterator[httpx.Client]:
    with replicated.client() as client:
        yield client


def _counters(server: Server) -> dict[tuple[str, str], float]:  # float-ok: sample values
    """{(metric, labels): value} of the replica metrics in one scrape."""
    text = httpx.get(server.base_url + "/metrics", timeout=10).text
    found: dict[tuple[str, str], float] = {}  # float-ok: sample values
    pattern = r"^(grantledger_db_(?:lagging_reads_total|replica_\w+))\{([^}]*)\} (\S+)$"
    for name, labels, value in re.findall(pattern, text, re.M):
        found[(name, labels)] = float(value)  # float-ok: sample values
    return found


def _reads(server: Server, target: str) -> float:  # float-ok: a counter
    return _counters(server).get(("grantledger_db_lagging_reads_total", f'target="{target}"'), 0)


def _skips(server: Server, replica: str, reason: str) -> float:  # float-ok: a counter
    labels = f'reason="{reason}",replica="{replica}"'
    return _counters(server).get(("grantledger_db_replica_skips_total", labels), 0)


def _replica_name(cluster: Cluster) -> str:
    return f"127.0.0.1:{cluster.replica.port}/{DATABASE}"


def _customers(api: httpx.Client) -> set[str]:
    return {c["id"] for c in ok_json(api.get("/customers", params={"pageSize": 50}))["data"]}


def _until(condition: object, seconds: float = 10) -> float:  # float-ok: seconds
    """Poll `condition` until true; the seconds it took."""
    assert callable(condition)
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < seconds, "condition not met in time"
        time.sleep(0.02)
    return time.monotonic() - start


def _served_by_replica(server: Server, replica: str, call: Callable[[], object]) -> None:
    """`call` (a read that may lag) is served by the replica once it is within the bound: on a
    loaded machine replay may fall behind 300 ms for a moment, and then the primary serves."""
    deadline = time.monotonic() + 10
    while True:
        before = _reads(server, replica)
        call()
        if _reads(server, replica) > before:
            return
        assert time.monotonic() < deadline, "never served by the replica"
        time.sleep(0.05)


def test_balances_read_the_primary_and_lists_the_replica(
    replicated: Server, api: httpx.Client, cluster: Cluster
) -> None:
    replica = _replica_name(cluster)
    account = new_account(api)
    grant(api, account, 12.5)
    # What was just written is in the current balance at once: the primary answers it.
    assert balance(api, account)["activeCredits"] == 12.5
    # The list reads the replica once it is within the bound, and then shows the customer.
    _served_by_replica(replicated, replica, lambda: _customers(api))
    _until(lambda: len(_customers(api)) == 1)
    # asOf further back than the bound reads the replica; the current balance never does.
    past = (datetime.now(UTC) - timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    _served_by_replica(replicated, replica, lambda: balance(api, account, asOf=past))
    before, primary = _reads(replicated, replica), _reads(replicated, "primary")
    balance(api, account)
    # Not a read that may lag at all: neither target counts it.
    assert (_reads(replicated, replica), _reads(replicated, "primary")) == (before, primary)


def test_every_route_that_may_lag_reads_the_replica(
    replicated: Server, api: httpx.Client, cluster: Cluster
) -> None:
    replica = _replica_name(cluster)
    account = new_account(api)
    schema = new_schema(api)
    feature = new_feature(api, [(schema, "tokens")])
    plan = new_plan(api, [{"featureId": feature, "creditsPerCycle": 100}])
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assign_plan(api, account, plan, today)
    grant_entry(api, account, feature, 5)
    _until(lambda: len(_customers(api)) == 1)
    routes = [
        "/customers",
        "/accounts",
        f"/accounts/{account}/credit_holds",
        f"/accounts/{account}/plans",
        f"/accounts/{account}/purchases",
        f"/accounts/{account}/features/{feature}/entries",
        f"/events?account_id={account}",
        "/event_schema",
        "/features",
        "/entitlement_plans",
        "/alerts",
        "/incidents",
        "/webhook_endpoints",
    ]
    errors = _skips(replicated, replica, "error")

    def read(route: str) -> Callable[[], object]:
        def call() -> object:
            answer = api.get(route)
            assert answer.status_code in (200, 204), (route, answer.text)
            return answer

        return call

    for route in routes:
        _served_by_replica(replicated, replica, read(route))
    # The past of a feature's credits, like a balance's, reads the replica too.
    past = (datetime.now(UTC) - timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    _served_by_replica(
        replicated, replica, read(f"/accounts/{account}/features/{feature}?asOf={past}")
    )
    # Nothing a standby refuses was sent to it.
    assert _skips(replicated, replica, "error") == errors


def test_paused_replay_sends_lists_to_the_primary_once_past_the_bound(
    replicated: Server, api: httpx.Client, cluster: Cluster
) -> None:
    replica = _replica_name(cluster)
    new_account(api)
    _until(lambda: len(_customers(api)) == 1)
    _sql(cluster.replica.url(), "SELECT pg_wal_replay_pause()")
    try:
        lagged, primary = _skips(replicated, replica, "lag"), _reads(replicated, "primary")
        new_account(api)
        written = time.monotonic()  # committed by now
        # Served stale at most while the replica is within the bound, then by the primary.
        waited = _until(lambda: len(_customers(api)) == 2)
        assert time.monotonic() - written < MAX_LAG_MS / 1000 + 1.0, waited
        assert _skips(replicated, replica, "lag") > lagged
        assert _reads(replicated, "primary") > primary
        for _ in range(5):
            assert len(_customers(api)) == 2  # never back to the stale list
    finally:
        _sql(cluster.replica.url(), "SELECT pg_wal_replay_resume()")
    served = _reads(replicated, replica)
    _until(lambda: (_customers(api), _reads(replicated, replica) > served)[1])


def test_a_stopped_replica_leaves_every_read_answering(
    replicated: Server, api: httpx.Client, cluster: Cluster
) -> None:
    replica = _replica_name(cluster)
    account = new_account(api)
    grant(api, account, 7)
    cluster.replica.stop()
    try:
        unreachable = _skips(replicated, replica, "unreachable")
        for _ in range(3):
            assert _customers(api) and balance(api, account)["activeCredits"] == 7
            # (No holds and no events: an empty list, which these routes answer with 204.)
            assert api.get(f"/accounts/{account}/credit_holds").status_code in (200, 204)
            assert api.get("/events", params={"account_id": account}).status_code in (200, 204)
        assert _skips(replicated, replica, "unreachable") > unreachable
    finally:
        cluster.replica.start()


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"GRANTLEDGER_READ_DATABASE_URL": "mysql://h/db"}, "URL 1 is not a comma list"),
        ({"GRANTLEDGER_READ_MAX_LAG_MS": "soon"}, "whole number of milliseconds"),
        ({"GRANTLEDGER_READ_MAX_LAG_MS": "-1"}, "whole number of milliseconds"),
        (
            {
                "GRANTLEDGER_DATABASE_URL": "sqlite:///x.db",
                "GRANTLEDGER_READ_DATABASE_URL": "postgresql://h/db",
            },
            "SQLite has no read replicas",
        ),
    ],
)
def test_bad_replica_settings_stop_with_what_to_fix(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], says: str
) -> None:
    monkeypatch.setenv("GRANTLEDGER_DATABASE_URL", "postgresql://h/db")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit, match=says):
        replica_options_from_env()


def test_two_replica_urls_are_read_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRANTLEDGER_DATABASE_URL", "postgresql://h/db")
    monkeypatch.setenv("GRANTLEDGER_READ_DATABASE_URL", "postgresql://r1/db, postgresql://r2/db")
    monkeypatch.delenv("GRANTLEDGER_READ_MAX_LAG_MS", raising=False)
    options = replica_options_from_env()
    assert options.urls == ("postgresql://r1/db", "postgresql://r2/db")
    assert options.max_lag_ms == 1000
