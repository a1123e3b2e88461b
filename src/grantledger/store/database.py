"""The unit of work: one transaction per use case, retried on transient conflicts, and every
database fault turned into a `Busy` that says whether anything was written."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from grantledger.store.backend import PORTABLE, Backend
from grantledger.store.books import audit as audit_rows
from grantledger.store.engine import READ_SNAPSHOT, DatabaseOptions, create_engine, is_sqlite
from grantledger.store.errors import Busy, OutcomeUnknown, StatementTimeout, Unavailable
from grantledger.store.replicas import ReadObserver, ReplicaOptions, Replicas
from grantledger.store.tx import NO_CAUSE, Cause, Tx
from grantledger.store.watch import DatabaseObserver, watch

T = TypeVar("T")
log = logging.getLogger("grantledger.store")

# PostgreSQL states worth a fresh attempt: serialization failure, deadlock, unique violation
# (the retried use case re-reads and answers as a replay or a conflict).
_RETRYABLE_STATES = {"40001", "40P01", "23505"}
# The server cancelled a statement (statement_timeout) or gave up waiting for a lock.
_TIMEOUT_STATES = {"57014", "55P03"}
MAX_ATTEMPTS = 8


def _sqlstate(error: DBAPIError) -> str | None:
    orig: Any = error.orig
    for candidate in (orig, getattr(orig, "__cause__", None)):
        for attr in ("sqlstate", "pgcode"):
            state = getattr(candidate, attr, None)
            if isinstance(state, str):
                return state
    return None


def is_retryable(error: DBAPIError) -> bool:
    if _sqlstate(error) in _RETRYABLE_STATES:
        return True
    return isinstance(error, IntegrityError) and "UNIQUE" in str(error.orig)


def _timed_out(error: BaseException) -> bool:
    if isinstance(error, TimeoutError):  # asyncpg's client-side command_timeout
        return True
    if isinstance(error, DBAPIError):
        # SQLite's busy timeout ends in "database is locked": the write lock stayed taken.
        return _sqlstate(error) in _TIMEOUT_STATES or "locked" in str(error.orig)
    return False


def _lost(error: BaseException) -> bool:
    """The connection can no longer be trusted: closed under us, or silent past its timeout."""
    if isinstance(error, DBAPIError):
        return bool(error.connection_invalidated)
    return isinstance(error, OSError) or not isinstance(error, Exception)


class _LostBeforeCommit(Exception):
    """The connection died before COMMIT was sent: the server rolls the transaction back, so
    running it again on a fresh connection is safe."""


async def _discard(conn: AsyncConnection) -> None:
    """Drop a connection without talking to the server: a graceful close or a rollback would
    wait on a server that may never answer."""
    if not conn.invalidated:
        with contextlib.suppress(Exception):
            raw = await conn.get_raw_connection()
            terminate = getattr(raw.driver_connection, "terminate", None)  # asyncpg only
            if terminate is not None:
                terminate()
        with contextlib.suppress(Exception):
            await conn.invalidate()


def backend_for(dialect_name: str) -> Backend:
    """The backend of a database, by its engine's dialect: asked once, when it is opened."""
    if dialect_name == "postgresql":
        from grantledger.store.pg import POSTGRES  # its statements import the store's areas

        return POSTGRES
    return PORTABLE


class Database:
    def __init__(
        self,
        url: str,
        options: DatabaseOptions | None = None,
        replicas: ReplicaOptions | None = None,
    ) -> None:
        self.url = url
        self.is_sqlite = is_sqlite(url)
        self.options = options or DatabaseOptions()
        self.engine: AsyncEngine = create_engine(url, self.options)
        # Streaming replicas for the reads that may lag (store/replicas.py); none by default.
        self.replicas = (
            Replicas(replicas, self.options) if replicas is not None and replicas.urls else None
        )
        # The one place the store asks which database this is (store/backend.py).
        self.backend: Backend = backend_for(self.engine.dialect.name)
        # SQLite has one writer at a time. Left to SQLite's busy handler, which polls with
        # sleeps of up to 100 ms, waiting writers are served in no order and one can starve
        # past the busy timeout under a steady load; this queue serves them first come, first
        # served, so only writers of other processes still meet the busy handler.
        self._sqlite_writers = asyncio.Lock() if self.is_sqlite else None

    async def run(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run `work` in one transaction; on a transient conflict, roll back and run it again."""
        return await self._run(work, snapshot=False)

    async def read_snapshot(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run read-only `work` in one transaction that sees the database as it stood at one
        instant, however long it takes and whatever commits meanwhile (PostgreSQL: REPEATABLE
        READ READ ONLY; SQLite: a deferred read transaction, which takes no lock)."""
        return await self._run(work, snapshot=True)

    async def run_tenant(
        self, org_id: str, work: Callable[[Tx], Awaitable[T]], cause: Cause = NO_CAUSE
    ) -> T:
        """`run` with the connection bound to one organization (see `Tx`). For an audited
        request, the transaction also writes the request's audit row (once per request: the
        first of its transactions to commit holds it), so no change commits without it."""
        audit = cause.audit
        if audit is None:
            return await self.run(lambda conn: work(self.tx(conn, org_id, cause)))

        async def audited(conn: AsyncConnection) -> T:
            tx = self.tx(conn, org_id, cause)
            result = await work(tx)
            await audit_rows.record(tx, audit, audit.at, audit_rows.APPLIED)
            return result

        result = await self.run(audited)
        audit.committed.append(True)  # its row is in: the answer needs none of its own
        return result

    async def read_behind(self, org_id: str, work: Callable[[Tx], Awaitable[T]]) -> T:
        """A read of one organization that may be up to the replicas' lag bound behind: on a
        replica within it when there is one, else `run_tenant` on this primary. `work` only
        reads (a replica's transaction is read-only)."""
        if self.replicas is None:
            return await self.run_tenant(org_id, work)
        return await self.replicas.read(
            org_id, self.backend, work, lambda: self.run_tenant(org_id, work)
        )

    @property
    def max_read_lag_ms(self) -> int:
        """How far behind a `read_behind` may be: 0 without replicas."""
        return self.replicas.max_lag_ms if self.replicas is not None else 0

    def tx(self, conn: AsyncConnection, org_id: str, cause: Cause = NO_CAUSE) -> Tx:
        """`conn`'s transaction bound to one organization, with this database's backend."""
        return Tx(conn, org_id, self.backend, cause)

    def watch(self, observer: DatabaseObserver) -> None:
        """Tell `observer` of driver errors and pool checkouts (metrics live above the store)."""
        watch(self.engine, observer)

    def watch_reads(self, observer: ReadObserver) -> None:
        """Tell `observer` where each lagging read went and each replica's lag."""
        if self.replicas is not None:
            self.replicas.watch(observer)

    async def dispose(self) -> None:
        if self.replicas is not None:
            await self.replicas.dispose()
        # Closing pooled connections politely waits for the server, which may be the thing
        # that stopped answering: a shutdown must not hang on it.
        try:
            async with asyncio.timeout(self.options.connect_timeout):
                await self.engine.dispose()
        except TimeoutError:
            await self.engine.dispose(close=False)

    async def _run(self, work: Callable[[AsyncConnection], Awaitable[T]], snapshot: bool) -> T:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                return await self._once(work, snapshot)
            except _LostBeforeCommit as lost:
                # A connection that died while pooled fails on its first statement (there is
                # no pre-ping); if the database itself is gone, the next connect says so.
                if attempt == MAX_ATTEMPTS:
                    raise self._unavailable(lost.__cause__) from lost.__cause__
            except DBAPIError as error:
                if not is_retryable(error):
                    raise
                if attempt == MAX_ATTEMPTS:
                    raise Busy(
                        "the ledger is busy with concurrent changes to the same rows; "
                        "nothing was written, retry the request"
                    ) from error
                await asyncio.sleep(random.uniform(0, 0.005 * 2**attempt))
        raise AssertionError("unreachable")

    async def _once(self, work: Callable[[AsyncConnection], Awaitable[T]], snapshot: bool) -> T:
        if self._sqlite_writers is None or snapshot:
            return await self._transaction(work, snapshot)
        try:
            async with asyncio.timeout(self.options.pool_timeout):
                await self._sqlite_writers.acquire()
        except TimeoutError as error:
            raise Busy(
                "the server is busy with other writes; nothing was written, retry the request"
            ) from error
        try:
            return await self._transaction(work, snapshot)
        finally:
            self._sqlite_writers.release()

    async def _transaction(
        self, work: Callable[[AsyncConnection], Awaitable[T]], snapshot: bool
    ) -> T:
        try:
            conn = await self.engine.connect()
        except PoolTimeout as error:
            # Every pooled connection stayed taken for the pool's whole timeout: overload, or
            # a database that stopped answering the statements holding them.
            raise Busy(
                "the server has no free database connection; nothing was written, retry the request"
            ) from error
        except (DBAPIError, OSError) as error:  # OSError includes TimeoutError
            raise self._unavailable(error) from error
        committing = False
        try:
            if snapshot:
                conn = await conn.execution_options(**self._snapshot_options())
            await conn.begin()
            result = await work(conn)
            committing = True
            await conn.commit()
            return result
        except BaseException as error:
            await self._abandon(conn, error)
            self._classify(error, committing)
            raise
        finally:
            await conn.close()

    async def _abandon(self, conn: AsyncConnection, error: BaseException) -> None:
        """Roll back after a failure, or drop the connection if it cannot be trusted."""
        if _lost(error):
            await _discard(conn)
            return
        try:
            await conn.rollback()
        except BaseException:
            await _discard(conn)
            raise

    def _classify(self, error: BaseException, committing: bool) -> None:
        """Raise the store error a database fault stands for; return to re-raise `error`."""
        if not isinstance(error, Exception):
            return  # cancellation and exit are never translated
        # A COMMIT the server cancelled may still have been written (PostgreSQL cancels only
        # the wait for replicas once its own WAL is flushed), so a timeout counts as unknown.
        if committing and (_lost(error) or _timed_out(error)):
            log.warning("connection lost during COMMIT: outcome unknown (%s)", _reason(error))
            raise OutcomeUnknown(
                "the connection to the database was lost while it was committing this "
                "request, so whether it took effect is unknown; send it again with the same "
                "idempotency key, invoice id or event id: that is safe, the request takes "
                "effect at most once and the answer tells what happened"
            ) from error
        if _timed_out(error):
            log.warning("database statement timed out (%s)", _reason(error))
            limit = self.options.statement_timeout
            raise StatementTimeout(
                f"the database did not answer within {limit:g} s; nothing was written, "
                "retry the request"
            ) from error
        if _lost(error):
            raise _LostBeforeCommit() from error

    def _unavailable(self, error: BaseException | None) -> Unavailable:
        log.warning("database unavailable (%s)", _reason(error))
        return Unavailable(
            "the database is unavailable; nothing was written, retry the request in a few seconds"
        )

    def _snapshot_options(self) -> dict[str, Any]:
        if self.is_sqlite:
            return {READ_SNAPSHOT: True}
        return {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}


def _reason(error: BaseException | None) -> str:
    if error is None:
        return "unknown"
    orig = getattr(error, "orig", None) or error
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
    return f"{type(orig).__name__}: {text}" if text else type(orig).__name__
