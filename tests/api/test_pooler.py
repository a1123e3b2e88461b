"""grantledger behind a real PgBouncer in transaction pooling mode (GRANTLEDGER_DB_POOLER).

In transaction mode each transaction may run on another server connection, so nothing may
outlive one: no named prepared statements (PgBouncer 1.18, Debian 12's, does not track them),
no session settings. These tests start PgBouncer in front of the shared test server; the API
and concurrency tiers' PostgreSQL cases run through it with GRANTLEDGER_TEST_POOLER=pgbouncer
(all of them), and a representative subset of them runs so in every `make test` (below).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from grantledger.config import database_options_from_env
from grantledger.store.database import Database
from grantledger.store.engine import PGBOUNCER, DatabaseOptions
from grantledger.store.errors import StatementTimeout
from tests.pgbouncer import PgBouncer, start_pgbouncer
from tests.servers import TEST_POOLER

# The cases every `make test` runs through PgBouncer (the whole tiers take minutes more): the
# gate on the raw asyncpg path with its group commit and duplicates beside the catalog, plans
# and reads on the SQLAlchemy path (test_entitled_api, 21 cases), and one race of parallel
# debits and snapshot reads across two server processes.
SUBSET = [
    "tests/api/test_entitled_api.py",
    "tests/concurrency/test_concurrency_credits.py::test_parallel_debits_never_overdraw",
]


@pytest.fixture(scope="module")
def bouncer(pg_url: str) -> Iterator[PgBouncer]:
    upstream = make_url(pg_url)
    if upstream.port != 5432 and TEST_POOLER == PGBOUNCER:
        # The run is already through PgBouncer: chain no second one.
        upstream = make_url(os.environ.get("GRANTLEDGER_TEST_POSTGRES_URL", pg_url))
    started = start_pgbouncer(upstream.host or "127.0.0.1", upstream.port or 5432)
    yield started
    started.stop()


@pytest.fixture(scope="module")
def pooled_url(bouncer: PgBouncer, pg_url: str) -> str:
    return bouncer.url(make_url(pg_url).database or "postgres")


def test_statement_timeout_is_per_transaction_through_pgbouncer(pooled_url: str) -> None:
    async def scenario() -> None:
        options = DatabaseOptions(statement_timeout=0.5, pool_size=2, pooler=PGBOUNCER)
        db = Database(pooled_url, options)
        try:

            async def timeout_in_force(conn: AsyncConnection) -> str:
                return str((await conn.execute(sa.text("SHOW statement_timeout"))).scalar())

            async def sleep(conn: AsyncConnection) -> None:
                await conn.execute(sa.text("SELECT pg_sleep(3)"))

            assert await db.run(timeout_in_force) == "500ms"
            assert await db.read_snapshot(timeout_in_force) == "500ms"
            with pytest.raises(StatementTimeout):
                await db.run(sleep)
        finally:
            await db.dispose()
        # Nothing stayed on the server connections: a plain session sees the server default.
        conn = await asyncpg.connect(pooled_url, statement_cache_size=0)
        try:
            assert await conn.fetchval("SHOW statement_timeout") == "0"
        finally:
            await conn.close()

    asyncio.run(scenario())


def test_without_the_setting_the_cli_says_to_set_it(pooled_url: str) -> None:
    def cli(command: str, **extra: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "GRANTLEDGER_DB_POOLER"}
        return subprocess.run(
            [sys.executable, "-m", "grantledger", command],
            env={**env, "GRANTLEDGER_DATABASE_URL": pooled_url, **extra},
            capture_output=True,
            text=True,
            timeout=120,
        )

    migrated = cli("migrate", GRANTLEDGER_DB_POOLER=PGBOUNCER)
    assert migrated.returncode == 0, migrated.stderr
    without = cli("verify")
    assert without.returncode != 0
    assert "set GRANTLEDGER_DB_POOLER=pgbouncer" in without.stderr, without.stderr
    assert "Traceback" not in without.stderr
    with_it = cli("verify", GRANTLEDGER_DB_POOLER=PGBOUNCER)
    assert with_it.returncode == 0, with_it.stdout + with_it.stderr


@pytest.mark.parametrize(
    ("value", "url", "says"),
    [
        ("pgbouncer", "sqlite:///x.db", "SQLite has no connection pooler"),
        ("odyssey", "postgresql://h/db", "must be one of pgbouncer"),
    ],
)
def test_bad_pooler_settings_stop_with_what_to_fix(
    monkeypatch: pytest.MonkeyPatch, value: str, url: str, says: str
) -> None:
    monkeypatch.setenv("GRANTLEDGER_DB_POOLER", value)
    monkeypatch.setenv("GRANTLEDGER_DATABASE_URL", url)
    with pytest.raises(SystemExit, match=says):
        database_options_from_env()


def test_the_api_and_concurrency_cases_through_pgbouncer(pg_url: str) -> None:
    if TEST_POOLER == PGBOUNCER:
        pytest.skip("this whole run goes through PgBouncer (GRANTLEDGER_TEST_POOLER=pgbouncer)")
    env = {
        **os.environ,
        "GRANTLEDGER_TEST_POOLER": PGBOUNCER,
        "GRANTLEDGER_REQUIRE_POSTGRES": "1",
    }
    # Unmeasured, like the race tier's servers (tests/concurrency/conftest.py).
    env.pop("COVERAGE_PROCESS_CONFIG", None)
    pytest_args = ["-q", "-x", "-p", "no:cacheprovider", "--no-cov", "-k", "postgres"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *pytest_args, *SUBSET],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-4000:]
    assert " passed" in result.stdout and " failed" not in result.stdout
