"""Engines for the two supported databases, configured for safe concurrent writers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def async_url(url: str) -> str:
    """Map the URLs users write (`sqlite:///…`, `postgresql://…`) to async drivers."""
    if url.startswith("sqlite:"):
        return "sqlite+aiosqlite:" + url[len("sqlite:") :]
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+asyncpg://" + url[len(plain) :]
    return url


def is_sqlite(url: str) -> bool:
    return make_url(async_url(url)).get_backend_name() == "sqlite"


def create_engine(url: str, *, pool_size: int = 20) -> AsyncEngine:
    real_url = async_url(url)
    if is_sqlite(real_url):
        return _sqlite_engine(real_url)
    # No pool_pre_ping: with asyncpg it costs three round trips (BEGIN; ; ROLLBACK) before
    # every transaction, a third of an event's. A connection that died while pooled fails on
    # its first statement instead, and Database.run runs the transaction again on a new one.
    # No overflow: overflow connections are closed as soon as they are returned, so a steady
    # load just above the pool size opened and closed a connection every few requests
    # (hundreds a minute in bench/entitled.py). The pool keeps what it opens, up to the same
    # 20 per process as before.
    return create_async_engine(real_url, pool_size=pool_size, max_overflow=0)


def _sqlite_engine(url: str) -> AsyncEngine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so that BEGIN IMMEDIATE below is ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers queue on the database lock up front instead of failing on upgrade later.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
