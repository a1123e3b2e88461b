"""The database settings reach the database, and a statement that outlasts its timeout ends as
a 503 that wrote nothing, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from grantledger.config import database_options_from_env
from grantledger.store.database import Database
from grantledger.store.engine import DatabaseOptions
from grantledger.store.errors import StatementTimeout
from grantledger.store.migrate import upgrade

FAST = DatabaseOptions(statement_timeout=0.5, pool_size=1)


def test_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = {
        "GRANTLEDGER_DB_CONNECT_TIMEOUT": "1.5",
        "GRANTLEDGER_DB_POOL_TIMEOUT": "3",
        "GRANTLEDGER_DB_STATEMENT_TIMEOUT": "0",
        "GRANTLEDGER_DB_POOL_SIZE": "7",
        "GRANTLEDGER_DB_MAX_OVERFLOW": "2",
    }
    for name in settings:
        monkeypatch.delenv(name, raising=False)
    assert database_options_from_env() == DatabaseOptions()
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    assert database_options_from_env() == DatabaseOptions(1.5, 3.0, 0.0, 7, 2)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GRANTLEDGER_DB_CONNECT_TIMEOUT", "0"),
        ("GRANTLEDGER_DB_POOL_TIMEOUT", "-1"),
        ("GRANTLEDGER_DB_STATEMENT_TIMEOUT", "soon"),
        ("GRANTLEDGER_DB_POOL_SIZE", "0"),
        ("GRANTLEDGER_DB_MAX_OVERFLOW", "1.5"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as stopped:
        database_options_from_env()
    assert name in str(stopped.value) and "\n" not in str(stopped.value)


def _sqlite(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'timeouts.db'}"
    upgrade(url)
    return url


def test_sqlite_is_durable_and_waits_for_the_lock_no_longer_than_the_timeout(
    tmp_path: Path,
) -> None:
    url = _sqlite(tmp_path)

    async def scenario() -> None:
        db = Database(url, FAST)
        try:

            async def pragmas(conn: AsyncConnection) -> tuple[int, int, str]:
                sync = (await conn.exec_driver_sql("PRAGMA synchronous")).scalar_one()
                busy = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar_one()
                mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar_one()
                return sync, busy, mode

            assert await db.run(pragmas) == (2, 500, "wal")  # 2 = FULL

            # Another process holds the write lock: the writer gives up after the busy timeout.
            other = sqlite3.connect(tmp_path / "timeouts.db", isolation_level=None)
            other.execute("BEGIN IMMEDIATE")
            try:
                started = time.monotonic()
                with pytest.raises(StatementTimeout, match="nothing was written"):
                    await db.run(lambda conn: conn.exec_driver_sql("SELECT 1"))
                assert 0.4 < time.monotonic() - started < 2.0
            finally:
                other.execute("ROLLBACK")
                other.close()
            assert (await db.run(lambda c: c.exec_driver_sql("SELECT 1"))).scalar_one() == 1
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_postgres_statement_timeout_is_set_and_keeps_the_connection(pg_url: str) -> None:
    async def scenario() -> None:
        db = Database(pg_url, FAST)
        try:

            async def show(conn: AsyncConnection) -> str:
                return str((await conn.exec_driver_sql("SHOW statement_timeout")).scalar_one())

            assert await db.run(show) == "500ms"
            started = time.monotonic()
            with pytest.raises(StatementTimeout, match="nothing was written"):
                await db.run(lambda conn: conn.execute(sa.text("SELECT pg_sleep(5)")))
            # The server cancelled it (not the client's later timer) and the pool still works.
            assert time.monotonic() - started < 0.5 + 0.4
            assert await db.run(show) == "500ms"

            # A read snapshot leaves nothing behind on its pooled connection.
            async def mode(conn: AsyncConnection) -> tuple[str, str]:
                isolation = await conn.exec_driver_sql("SHOW transaction_isolation")
                read_only = await conn.exec_driver_sql("SHOW transaction_read_only")
                return str(isolation.scalar_one()), str(read_only.scalar_one())

            assert await db.read_snapshot(mode) == ("repeatable read", "on")
            assert await db.run(mode) == ("read committed", "off")
        finally:
            await db.dispose()

    asyncio.run(scenario())
