"""The service tier: use cases run in-process against a real database (a fresh SQLite file per
test, migrated once per session and copied), with a clock the test sets. No server, no HTTP:
the rules that need storage, in seconds (`make service`)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import pytest

from grantledger.service.context import Context, Tenant
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


@pytest.fixture
def run(sqlite_url: str, clock: SetClock) -> Iterator[Callable[..., object]]:
    """`run(scenario)`: `scenario(tenant)` in a fresh organization, on its own event loop."""

    def go(scenario: Callable[[Tenant], Awaitable[T]]) -> T:
        async def inside() -> T:
            async with context(sqlite_url, clock) as ctx:
                return await scenario(await new_tenant(ctx, "org"))

        return asyncio.run(inside())

    yield go


def context_of(tenant: Tenant) -> Context:
    return tenant.ctx
