"""Fixed-text statements run on the transaction's own asyncpg connection (PostgreSQL only).

Why: the group-committed gate's statements went through SQLAlchemy, whose compile and
execution context cost more server CPU than the database work, and whose texts changed with
the batch's size (multi-row VALUES, expanding IN lists), so asyncpg prepared them again and
again. A statement here has one text whatever the batch (arrays: `= ANY($1::text[])`,
`unnest(...)`), so asyncpg prepares it once per connection and keeps it in its cache.

One job: run the statement inside the transaction `Database.run` opened, and turn asyncpg's
errors into what the SQLAlchemy path raises (`store/database.py` classifies them): a
`DBAPIError` whose `orig` carries the `sqlstate` (retries on 40001/40P01/23505, 57014 → 503),
`connection_invalidated` when the connection is lost (discarded and retried before COMMIT);
a `TimeoutError` (asyncpg's client-side `command_timeout`) and an `OSError` pass through, as
they do through SQLAlchemy. Each error is also reported to the engine's observers
(`store/watch.py`, the `grantledger_database_errors_total` metric), as SQLAlchemy's
`handle_error` event would have.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from sqlalchemy.exc import DBAPIError

from grantledger.store.pg.statement import Statement
from grantledger.store.tx import Tx
from grantledger.store.watch import report_error

# The private parts of SQLAlchemy's asyncpg adapter this module relies on (SQLAlchemy is
# pinned to the minor version tested; tests/unit/test_pg_adapter.py fails by name if one moves).
ADAPTER_ATTRIBUTES = ("_transaction", "_execute_mutex", "_start_transaction", "_handle_exception")


async def fetch(tx: Tx, statement: Statement, **values: Any) -> list[asyncpg.Record]:
    """Rows of `statement`, run in `tx`'s transaction with its parameters bound by name."""
    args = statement.bind(values)
    adapted, connection = await _connection(tx)
    try:
        await _begin(adapted)
        rows: list[asyncpg.Record] = await connection.fetch(statement.sql, *args)
        return rows
    except Exception as error:
        raise _translate(tx, adapted, connection, statement.sql, args, error) from error


async def execute(tx: Tx, statement: Statement, **values: Any) -> str:
    """Run `statement` in `tx`'s transaction; its status ("UPDATE 3")."""
    args = statement.bind(values)
    adapted, connection = await _connection(tx)
    try:
        await _begin(adapted)
        status: str = await connection.execute(statement.sql, *args)
        return status
    except Exception as error:
        raise _translate(tx, adapted, connection, statement.sql, args, error) from error


async def _connection(tx: Tx) -> tuple[Any, asyncpg.Connection]:
    raw = await tx.conn.get_raw_connection()
    return raw.dbapi_connection, raw.driver_connection


async def _begin(adapted: Any) -> None:
    # SQLAlchemy's asyncpg adapter sends BEGIN lazily, with its first statement; a statement
    # sent straight to asyncpg before that would run outside the transaction (autocommitted).
    # Starting it through the adapter keeps its isolation level and lets SQLAlchemy commit
    # or roll it back as usual. (tests/faults/test_driver.py pins this.)
    if adapted._transaction is None:
        async with adapted._execute_mutex:
            if adapted._transaction is None:
                await adapted._start_transaction()


def _translate(
    tx: Tx,
    adapted: Any,
    connection: asyncpg.Connection,
    statement: str,
    args: list[Any],
    error: Exception,
) -> Exception:
    """The exception SQLAlchemy would have raised for `error` on this statement (reported to
    the engine's observers)."""
    dialect = tx.conn.dialect
    dbapi: Any = dialect.loaded_dbapi
    if isinstance(error, TimeoutError | OSError) and not isinstance(error, dbapi.Error):
        # Not the driver's: SQLAlchemy lets these through unwrapped too, and judges them no
        # disconnect (a TimeoutError is then a `timeout` by its name, an OSError `other`).
        report_error(tx.conn.sync_engine, error, False)
        return error
    orig: Exception = error
    if not isinstance(error, dbapi.Error):
        # The adapter's own mapping (asyncpg class → DBAPI class, sqlstate kept): it raises.
        try:
            adapted._handle_exception(error)
        except Exception as mapped:
            orig = mapped
    if not isinstance(orig, dbapi.Error):
        report_error(tx.conn.sync_engine, orig, False)
        return orig
    # Lost: closed (how SQLAlchemy judges it), a connection error (class 08, "connection
    # does not exist"), or a client-side error leaving the protocol in an unknown state. A
    # value asyncpg cannot encode (its DataError, a ValueError: a bug of ours) leaves the
    # connection sound, and retrying it would not help.
    lost = (
        connection.is_closed()
        or isinstance(error, asyncpg.PostgresConnectionError)
        or (isinstance(error, asyncpg.InterfaceError) and not isinstance(error, ValueError))
    )
    report_error(tx.conn.sync_engine, orig, lost)
    translated: Exception = DBAPIError.instance(
        statement, list(args), orig, dbapi.Error, connection_invalidated=lost, dialect=dialect
    )
    return translated
