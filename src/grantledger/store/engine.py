"""Engines for the two supported databases, configured for safe concurrent writers and bounded
waits (docs/operations.md, "Database faults and settings")."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from grantledger.store.types import json_text

Seconds = float  # float-ok: a duration in seconds, never money

# The client gives the server this long past its own statement_timeout before deciding that
# the server itself is gone: a slow statement is then cancelled by PostgreSQL (the connection
# stays usable), and only a silent server is detected by the client-side timer.
CLIENT_GRACE: Seconds = 0.5  # float-ok: seconds

# Execution option of a connection that only reads, from one snapshot (Database.read_snapshot).
READ_SNAPSHOT = "grantledger_read_snapshot"

# The connection poolers grantledger knows how to talk through (GRANTLEDGER_DB_POOLER).
PGBOUNCER = "pgbouncer"
POOLERS = (PGBOUNCER,)


@dataclass(frozen=True)
class DatabaseOptions:
    """Every wait on the database is bounded, so a database that is gone answers 503 quickly
    instead of a request hanging with it."""

    # Opening a connection (TCP, TLS, startup and authentication).
    connect_timeout: Seconds = 2.0  # float-ok: seconds
    # Waiting for a pooled connection when all of them are in use.
    pool_timeout: Seconds = 2.0  # float-ok: seconds
    # One statement, lock waits included (PostgreSQL statement_timeout, SQLite busy timeout).
    # 0 turns the limit off (migrations, which may rewrite whole tables).
    statement_timeout: Seconds = 2.0  # float-ok: seconds
    pool_size: int = 20
    max_overflow: int = 0
    # A transaction-pooling proxy between this process and PostgreSQL (PGBOUNCER), or None for
    # a direct connection: each transaction may then run on another server connection, so
    # nothing may outlive a transaction on it (see _pooled_connect_args).
    pooler: str | None = None
    # What PostgreSQL shows for these connections (pg_stat_activity, logs): which part of
    # grantledger holds them ("grantledger serve", "grantledger verify", …).
    application_name: str = "grantledger"


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


def create_engine(
    url: str, options: DatabaseOptions | None = None, *, enforce_foreign_keys: bool = True
) -> AsyncEngine:
    """`enforce_foreign_keys=False` only for migrations on SQLite, which change a table's keys
    by copying it (store/migrations/env.py checks every foreign key before committing)."""
    options = options or DatabaseOptions()
    real_url = async_url(url)
    if is_sqlite(real_url):
        return _sqlite_engine(real_url, options, enforce_foreign_keys)
    # No pool_pre_ping: with asyncpg it costs three round trips (BEGIN; ; ROLLBACK) before
    # every transaction, a third of an event's. A connection that died while pooled fails on
    # its first statement instead, and Database.run runs the transaction again on a new one.
    # No overflow by default: overflow connections are closed as soon as they are returned, so
    # a steady load just above the pool size opened and closed a connection every few requests
    # (hundreds a minute in bench/entitled.py).
    connect_args: dict[str, Any] = {"timeout": options.connect_timeout}
    milliseconds = int(options.statement_timeout * 1000)
    # application_name is a startup setting PgBouncer passes on; statement_timeout is not.
    settings = {"application_name": options.application_name}
    if options.statement_timeout > 0:
        connect_args["command_timeout"] = options.statement_timeout + CLIENT_GRACE
        if options.pooler is None:
            settings["statement_timeout"] = str(milliseconds)
    connect_args["server_settings"] = settings
    if options.pooler is not None:
        connect_args.update(_pooled_connect_args())
    engine = create_async_engine(
        real_url,
        pool_size=options.pool_size,
        max_overflow=options.max_overflow,
        pool_timeout=options.pool_timeout,
        connect_args=connect_args,
        # JSON columns written as the driver path writes them (Decimals exactly).
        json_serializer=json_text,
    )

    @event.listens_for(engine.sync_engine, "invalidate")
    def _on_invalidate(dbapi_connection: Any, _record: Any, _error: BaseException | None) -> None:
        # An invalidated connection is no longer trusted. SQLAlchemy would close it gracefully,
        # waiting up to 2 s for a server that may have stopped answering (that is often why
        # it was invalidated); dropping the socket costs the request nothing.
        driver = getattr(dbapi_connection, "driver_connection", None)
        if driver is not None and not driver.is_closed():
            driver.terminate()

    if options.pooler is not None and milliseconds > 0:

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            # A pooler refuses startup parameters it does not know (PgBouncer: "unsupported
            # startup parameter: statement_timeout") and a session SET would stay on a server
            # connection other clients then borrow; SET LOCAL bounds this transaction only.
            # It costs one round trip per transaction (docs/scale-out.md).
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = {milliseconds}")

    return engine


def _pooled_connect_args() -> dict[str, Any]:
    """asyncpg's settings for a transaction-pooling PgBouncer older than 1.21 (Debian 12 ships
    1.18), which does not track protocol-level prepared statements: a named statement prepared
    in one transaction would be missing, or someone else's, in the next one. So every statement
    is unnamed (""): parsed, bound and run inside its own transaction, where the server
    connection is ours, and gone with the next Parse. No statement cache in asyncpg or in
    SQLAlchemy's adapter: a cached statement is a named one."""
    return {
        "statement_cache_size": 0,
        "prepared_statement_cache_size": 0,
        "prepared_statement_name_func": _unnamed,
    }


def _unnamed() -> str:
    return ""


def _sqlite_engine(url: str, options: DatabaseOptions, enforce_foreign_keys: bool) -> AsyncEngine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    # SQLite's only long wait is for the write lock, which the busy timeout bounds; "no limit"
    # still means a minute rather than forever.
    busy: Seconds = options.statement_timeout or 60.0  # float-ok: seconds
    engine = create_async_engine(
        url,
        connect_args={"timeout": busy},
        pool_size=options.pool_size,
        max_overflow=options.max_overflow,
        pool_timeout=options.pool_timeout,
        json_serializer=json_text,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so that BEGIN IMMEDIATE below is ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy * 1000)}")
        cursor.execute(f"PRAGMA foreign_keys={'ON' if enforce_foreign_keys else 'OFF'}")
        # FULL: in WAL mode, NORMAL may lose the last acknowledged transactions on power loss
        # (the WAL is synced only at checkpoints); FULL syncs it at every commit. Its cost is
        # measured in docs/operations.md.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(READ_SNAPSHOT):
            # A deferred transaction takes no lock: its snapshot starts at its first read and
            # lasts until it ends, while writers go on.
            conn.exec_driver_sql("BEGIN")
            return
        # Writers queue on the database lock up front instead of failing on upgrade later.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
