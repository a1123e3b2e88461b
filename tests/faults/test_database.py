"""The unit of work against real databases: contention that outlasts the retries and an
exhausted pool both end as `Busy` (503 with Retry-After at the API), with nothing written."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from grantledger.store.database import MAX_ATTEMPTS, Database
from grantledger.store.engine import async_url
from grantledger.store.errors import Busy
from grantledger.store.migrate import upgrade
from grantledger.store.tables import organizations


def _sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return _sqlite_url(tmp_path)
    url: str = request.getfixturevalue("pg_url")
    upgrade(url)
    return url


async def _count_orgs(db: Database, name: str) -> int:
    async def work(conn: AsyncConnection) -> int:
        query = sa.select(sa.func.count()).where(organizations.c.name == name)
        return int((await conn.execute(query)).scalar_one())

    return await db.run(work)


def test_conflict_that_outlasts_every_retry_is_busy_and_writes_nothing(database_url: str) -> None:
    name = f"busy-{datetime.now(UTC).timestamp()}"
    attempts = 0

    async def scenario() -> None:
        nonlocal attempts
        db = Database(database_url)
        try:

            async def insert(conn: AsyncConnection, org_id: str) -> None:
                row = {"id": org_id, "name": name, "created_at": datetime.now(UTC)}
                await conn.execute(organizations.insert().values(row))

            await db.run(lambda conn: insert(conn, name[:40] + "-a"))

            async def always_collides(conn: AsyncConnection) -> None:
                nonlocal attempts
                attempts += 1
                await insert(conn, name[:40] + f"-{attempts}")  # committed by no attempt

            with pytest.raises(Busy):
                await db.run(always_collides)
            assert await _count_orgs(db, name) == 1
        finally:
            await db.dispose()

    asyncio.run(scenario())
    assert attempts == MAX_ATTEMPTS


def test_exhausted_pool_is_busy(pg_url: str) -> None:
    async def scenario() -> None:
        db = Database(pg_url)
        await db.engine.dispose()
        # A one-connection pool that gives up quickly: the only connection is held below.
        db.engine = create_async_engine(
            async_url(pg_url), pool_size=1, max_overflow=0, pool_timeout=0.2
        )
        try:
            async with db.engine.connect():
                with pytest.raises(Busy, match="no free database connection"):
                    await db.run(lambda conn: conn.execute(sa.text("SELECT 1")))
            assert await db.run(lambda conn: conn.execute(sa.text("SELECT 1"))) is not None
        finally:
            await db.dispose()

    asyncio.run(scenario())
