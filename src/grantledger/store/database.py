"""The unit of work: one transaction per use case, retried on transient conflicts."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from grantledger.store.engine import create_engine, is_sqlite
from grantledger.store.errors import Busy
from grantledger.store.tx import Tx

T = TypeVar("T")

# PostgreSQL states worth a fresh attempt: serialization failure, deadlock, unique violation
# (the retried use case re-reads and answers as a replay or a conflict).
_RETRYABLE_STATES = {"40001", "40P01", "23505"}
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
    if isinstance(error, IntegrityError) and "UNIQUE" in str(error.orig):
        return True  # SQLite's unique violation has no SQLSTATE
    return isinstance(error, OperationalError) and "locked" in str(error.orig)


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = is_sqlite(url)
        self.engine: AsyncEngine = create_engine(url)

    async def run(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run `work` in one transaction; on a transient conflict, roll back and run it again."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            committing = False
            try:
                async with self.engine.begin() as conn:
                    result = await work(conn)
                    committing = True
                return result
            except DBAPIError as error:
                # A connection lost before COMMIT leaves nothing behind (the server rolls the
                # transaction back), so another attempt on a fresh connection is safe; lost
                # during COMMIT, the outcome is unknown and the error goes up.
                lost = error.connection_invalidated and not committing
                if not (lost or is_retryable(error)):
                    raise
                if attempt == MAX_ATTEMPTS:
                    raise Busy(
                        "the ledger is busy with concurrent changes to the same rows; "
                        "nothing was written, retry the request"
                    ) from error
                await asyncio.sleep(random.uniform(0, 0.005 * 2**attempt))
            except PoolTimeout as error:
                # Every pooled connection stayed taken for the pool's whole timeout: overload,
                # not a fault of the request.
                raise Busy(
                    "the server has no free database connection; "
                    "nothing was written, retry the request"
                ) from error
        raise AssertionError("unreachable")

    async def run_tenant(self, org_id: str, work: Callable[[Tx], Awaitable[T]]) -> T:
        """`run` with the connection bound to one organization (see `Tx`)."""
        return await self.run(lambda conn: work(Tx(conn, org_id)))

    async def dispose(self) -> None:
        await self.engine.dispose()
