"""A connection lost while PostgreSQL commits: the unit of work must say the outcome is unknown
(503) instead of failing with a 500 or, worse, running the transaction again blindly.

Both ways it can end are produced on purpose through the fault proxy, at the exact moment the
COMMIT is sent: the connection is reset (the COMMIT never arrives: nothing was written), or
the COMMIT arrives and only its answer is lost (the write is there). The caller cannot tell
these apart, which is why the answer is "unknown" and the retry must carry the same key.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from grantledger.store.database import Database
from grantledger.store.engine import DatabaseOptions
from grantledger.store.errors import OutcomeUnknown
from grantledger.store.migrate import upgrade
from grantledger.store.tables import organizations
from tests.faults.proxy import FaultProxy
from tests.servers import PG_ADMIN_URL, create_postgres_database, drop_postgres_database

OPTIONS = DatabaseOptions(pool_size=2, statement_timeout=1.0)


@pytest.fixture
def proxied() -> Iterator[tuple[str, str, FaultProxy]]:
    """(direct URL, URL through the proxy, proxy) of a fresh, migrated database."""
    url = create_postgres_database()
    if url is None:
        pytest.skip("PostgreSQL unreachable")
    upgrade(url)
    admin = urlsplit(PG_ADMIN_URL)
    proxy = FaultProxy(admin.hostname or "127.0.0.1", admin.port or 5432).start()
    try:
        yield url, url.replace(f"@{admin.hostname}:{admin.port}", f"@127.0.0.1:{proxy.port}"), proxy
    finally:
        proxy.stop()
        drop_postgres_database(url)


async def _orgs_named(url: str, name: str) -> int:
    db = Database(url)
    try:

        async def count(conn: AsyncConnection) -> int:
            query = sa.select(sa.func.count()).where(organizations.c.name == name)
            return int((await conn.execute(query)).scalar_one())

        return await db.run(count)
    finally:
        await db.dispose()


def _commit_through(via: str, fault: Callable[[], None]) -> tuple[str, int, float]:  # float-ok
    """Insert one organization through the proxy, starting `fault` just before COMMIT.

    Returns (its name, attempts of the work, seconds until the error)."""
    name = "commit-" + secrets.token_hex(6)
    attempts = 0

    async def scenario() -> float:  # float-ok: seconds
        db = Database(via, OPTIONS)
        try:

            async def insert(conn: AsyncConnection) -> None:
                nonlocal attempts
                attempts += 1
                row = {"id": name, "name": name, "created_at": datetime.now(UTC)}
                await conn.execute(organizations.insert().values(row))
                fault()  # the work is done; Database.run sends COMMIT next

            started = time.monotonic()
            with pytest.raises(OutcomeUnknown) as raised:
                await db.run(insert)
            message = raised.value.message
            assert "unknown" in message and "same idempotency key" in message, message
            assert raised.value.status == 503 and raised.value.retry_after_seconds
            return time.monotonic() - started
        finally:
            await db.dispose()

    seconds = asyncio.run(scenario())
    return name, attempts, seconds


def test_commit_that_never_arrived_is_unknown_and_not_retried(
    proxied: tuple[str, str, FaultProxy],
) -> None:
    direct, via, proxy = proxied
    name, attempts, seconds = _commit_through(via, proxy.cut)
    assert attempts == 1  # never run again blindly
    assert seconds < 1.0
    proxy.restore()
    assert asyncio.run(_orgs_named(direct, name)) == 0


def test_commit_whose_answer_was_lost_is_unknown_and_took_effect(
    proxied: tuple[str, str, FaultProxy],
) -> None:
    direct, via, proxy = proxied
    name, attempts, seconds = _commit_through(via, proxy.mute)
    assert attempts == 1
    # The client waits the statement timeout plus its grace, then gives up on the server.
    assert seconds < OPTIONS.statement_timeout + 1.5
    proxy.restore()
    assert asyncio.run(_orgs_named(direct, name)) == 1
