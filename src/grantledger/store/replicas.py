"""Reads that may lag, sent to PostgreSQL streaming replicas within a bound of lag.

Each read opens a REPEATABLE READ READ ONLY transaction on a replica whose first statement
measures how far behind the replica is; its snapshot is taken by that same statement, so the
rows the read then sees are exactly as far behind as measured. Within the bound the read goes
on there; past it, or when the replica cannot be reached or gives up the read, the caller's
primary serves it instead: no error, and never an answer older than the bound
(docs/scale-out.md, "Read replicas").
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine

from grantledger.store.backend import Backend
from grantledger.store.engine import DatabaseOptions, Seconds, create_engine
from grantledger.store.tx import Tx

T = TypeVar("T")
log = logging.getLogger("grantledger.store")

# A replica that could not be reached is left alone this long before it is tried again, so a
# dead one costs one connect timeout per interval, not one per read.
RETRY_DOWN: Seconds = 5.0  # float-ok: seconds
DEFAULT_MAX_LAG_MS = 1000

# How far behind the replica is, in milliseconds; NULL when it cannot be told (no WAL
# receiver: a replica cut off from its primary looks caught up with what it has). Caught up
# (everything received is replayed): 0. Otherwise the age of the last transaction replayed.
# Only a standby counts: a replica promoted after a failover is another primary.
LAG_SQL = sa.text(
    """
    SELECT CASE
      WHEN NOT pg_is_in_recovery() THEN NULL
      WHEN NOT EXISTS (SELECT 1 FROM pg_stat_wal_receiver) THEN NULL
      WHEN EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status <> 'streaming') THEN NULL
      WHEN pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0
      ELSE (EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp()) * 1000)
    END AS lag_ms
    """
)


@dataclass(frozen=True)
class ReplicaOptions:
    """GRANTLEDGER_READ_DATABASE_URL and GRANTLEDGER_READ_MAX_LAG_MS."""

    urls: tuple[str, ...] = ()
    max_lag_ms: int = DEFAULT_MAX_LAG_MS


NO_REPLICAS = ReplicaOptions()


class ReadObserver(Protocol):
    """Told where each lagging read went and what each replica's lag was (metrics)."""

    def read(self, target: str) -> None: ...
    def skipped(self, replica: str, reason: str) -> None: ...
    def lag(self, replica: str, milliseconds: float | None) -> None: ...  # float-ok: ms


class _Lagging(Exception):
    """The replica was measured past the bound (or unmeasurable): the primary serves."""

    def __init__(self, milliseconds: float | None) -> None:  # float-ok: ms
        self.milliseconds = milliseconds


# What a replica failing a read looks like: it is down, unreachable, gave up the read (a
# conflict with recovery cancels it), or the pool had no connection. Not the read's own errors.
_REPLICA_FAULTS = (DBAPIError, OSError, PoolTimeout)


class Replica:
    def __init__(self, url: str, options: DatabaseOptions) -> None:
        parsed = make_url(url)
        # Its name in metrics and logs: where it is, never its password.
        self.name = f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"
        self.engine: AsyncEngine = create_engine(url, options)
        self.down_until = 0.0  # float-ok: a monotonic instant

    async def read(
        self, org_id: str, backend: Backend, max_lag_ms: int, work: Callable[[Tx], Awaitable[T]]
    ) -> tuple[T, float]:  # float-ok: ms
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
            async with conn.begin():
                lag = (await conn.execute(LAG_SQL)).scalar()
                measured = None if lag is None else float(lag)  # float-ok: ms
                if measured is None or measured > max_lag_ms:
                    raise _Lagging(measured)
                return await work(Tx(conn, org_id, backend)), measured


class Replicas:
    """The replicas of one primary, tried in turn, each read on the first within the bound."""

    def __init__(self, options: ReplicaOptions, database: DatabaseOptions) -> None:
        self.max_lag_ms = options.max_lag_ms
        self.replicas = [Replica(url, database) for url in options.urls]
        self._turn = itertools.count()
        self._observers: list[ReadObserver] = []

    def watch(self, observer: ReadObserver) -> None:
        self._observers.append(observer)

    async def read(
        self,
        org_id: str,
        backend: Backend,
        work: Callable[[Tx], Awaitable[T]],
        primary: Callable[[], Awaitable[T]],
    ) -> T:
        for replica in self._in_turn():
            if replica.down_until > time.monotonic():
                self._skipped(replica, "unreachable")
                continue
            try:
                result, lag = await replica.read(org_id, backend, self.max_lag_ms, work)
            except _Lagging as lagging:
                self._lag(replica, lagging.milliseconds)
                self._skipped(replica, "lag")
                continue
            except _REPLICA_FAULTS as fault:
                if _unreachable(fault):
                    replica.down_until = time.monotonic() + RETRY_DOWN
                    self._skipped(replica, "unreachable")
                else:
                    # Cancelled by recovery (replay needed its rows), or a statement a standby
                    # refuses: this read goes to the primary, the replica stays in turn.
                    log.warning("replica %s gave up a read: %s", replica.name, _reason(fault))
                    self._skipped(replica, "error")
                continue
            self._lag(replica, lag)
            self._read(replica.name)
            return result
        self._read("primary")
        return await primary()

    async def dispose(self) -> None:
        for replica in self.replicas:
            # Like the primary's: a replica that stopped answering must not hang a shutdown.
            try:
                async with asyncio.timeout(2):
                    await replica.engine.dispose()
            except TimeoutError:
                await replica.engine.dispose(close=False)

    def _in_turn(self) -> Sequence[Replica]:
        if not self.replicas:
            return ()
        start = next(self._turn) % len(self.replicas)
        return self.replicas[start:] + self.replicas[:start]

    def _skipped(self, replica: Replica, reason: str) -> None:
        for observer in self._observers:
            observer.skipped(replica.name, reason)

    def _lag(self, replica: Replica, milliseconds: float | None) -> None:  # float-ok: ms
        for observer in self._observers:
            observer.lag(replica.name, milliseconds)

    def _read(self, target: str) -> None:
        for observer in self._observers:
            observer.read(target)


def _unreachable(fault: BaseException) -> bool:
    """No connection could be had, or the one we had was lost (the replica stopped)."""
    if isinstance(fault, DBAPIError):
        return bool(fault.connection_invalidated) or _is_connect_error(fault)
    return True  # OSError (refused, reset, timed out) or the pool's timeout


def _is_connect_error(fault: DBAPIError) -> bool:
    # asyncpg's refusals at startup (too many clients, the database system is starting up or
    # shutting down: class 57P/53) come as DBAPIErrors without an invalidated connection.
    orig: Any = fault.orig
    state = getattr(orig, "sqlstate", None) or getattr(
        getattr(orig, "__cause__", None), "sqlstate", None
    )
    return isinstance(state, str) and state[:2] in ("08", "53", "57") and state != "57014"


def _reason(fault: BaseException) -> str:
    orig = getattr(fault, "orig", None) or fault
    lines = str(orig).strip().splitlines()
    return f"{type(orig).__name__}: {lines[0]}" if lines else type(orig).__name__
