"""The service tier: use cases run in-process against a real database (a fresh SQLite file per
test, migrated once per session and copied), with a clock the test sets. No server, no HTTP:
the rules that need storage, in seconds (`make service`)."""

from __future__ import annotations

import asyncio
import secrets
import shutil
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import pytest

from grantledger.service.context import Context, Tenant
from grantledger.store.migrate import upgrade
from tests.servers import REQUIRE_POSTGRES, create_postgres_database, drop_postgres_database
from tests.service.world import SetClock, context, migrated_sqlite, new_tenant

T = TypeVar("T")
# A fixed instant mid-month, so cycles and "now" never depend on the day the suite runs.
START = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("service-template")
    migrated_sqlite(directory)
    return directory / "service.db"


@pytest.fixture
def clock() -> SetClock:
    return SetClock(START)


@pytest.fixture
def sqlite_url(migrated: Path, tmp_path: Path) -> str:
    shutil.copy(migrated, tmp_path / "service.db")
    return f"sqlite:///{tmp_path / 'service.db'}"


Scenario = Callable[[Callable[[Tenant], Awaitable[T]]], T]


def _runner(url: str, clock: SetClock) -> Callable[..., object]:
    def go(scenario: Callable[[Tenant], Awaitable[T]]) -> T:
        async def inside() -> T:
            async with context(url, clock) as ctx:
                return await scenario(await new_tenant(ctx, "org-" + secrets.token_hex(4)))

        return asyncio.run(inside())

    return go


@pytest.fixture
def run(sqlite_url: str, clock: SetClock) -> Iterator[Callable[..., object]]:
    """`run(scenario)`: `scenario(tenant)` in a fresh organization, on its own event loop."""
    yield _runner(sqlite_url, clock)


@pytest.fixture(scope="module")
def module_postgres() -> Iterator[str | None]:
    """A PostgreSQL database of this module's own (so `verify` sees only its rows), migrated."""
    url = create_postgres_database()
    if url is None:
        yield None
        return
    try:
        upgrade(url)
        yield url
    finally:
        drop_postgres_database(url)


@pytest.fixture(params=["sqlite", "postgres"])
def run_on(
    request: pytest.FixtureRequest, sqlite_url: str, clock: SetClock, module_postgres: str | None
) -> Iterator[Callable[..., object]]:
    """`run` on each database: SQLite (a fresh file) and PostgreSQL (a fresh organization in
    the module's own database)."""
    if request.param == "sqlite":
        yield _runner(sqlite_url, clock)
        return
    if module_postgres is None:
        if REQUIRE_POSTGRES:
            pytest.fail("PostgreSQL is required (GRANTLEDGER_REQUIRE_POSTGRES=1) but unreachable")
        pytest.skip("PostgreSQL unreachable (set GRANTLEDGER_REQUIRE_POSTGRES=1 to fail instead)")
    yield _runner(module_postgres, clock)


def context_of(tenant: Tenant) -> Context:
    return tenant.ctx
