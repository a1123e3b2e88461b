"""What every use case needs: the database and the clock; for one tenant, the tenant too."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from grantledger.clock import Clock
from grantledger.domain.errors import NotFound
from grantledger.domain.ids import new_id, new_ids
from grantledger.store.database import Database
from grantledger.store.tx import NO_CAUSE, Audit, Cause, Tx

__all__ = ["Audit", "Cause", "Context", "Tenant"]

T = TypeVar("T")


@dataclass(frozen=True)
class Context:
    db: Database
    clock: Clock

    def now(self) -> datetime:
        return self.clock.now()

    def new_id(self, prefix: str, at: datetime | None = None) -> str:
        return new_id(prefix, at or self.clock.now())

    def new_ids(self, prefix: str, count: int, at: datetime | None = None) -> list[str]:
        """`count` ids of one instant, ascending: their order is the order they are made in."""
        return new_ids(prefix, at or self.clock.now(), count)

    def tenant(self, org_id: str, cause: Cause = NO_CAUSE) -> Tenant:
        return Tenant(self, org_id, cause)


@dataclass(frozen=True)
class Tenant:
    """The service context bound to the caller's organization, once, at the API's door.

    A use case of one organization takes a `Tenant`; its unit of work receives a `Tx` carrying
    the same organization, so no query below can be given another one.
    """

    ctx: Context
    org_id: str
    # Who asks (request id, actor): every journal row the tenant's transactions write names it.
    cause: Cause = NO_CAUSE

    def now(self) -> datetime:
        return self.ctx.now()

    def new_id(self, prefix: str, at: datetime | None = None) -> str:
        return self.ctx.new_id(prefix, at)

    def new_ids(self, prefix: str, count: int, at: datetime | None = None) -> list[str]:
        return self.ctx.new_ids(prefix, count, at)

    async def run(self, work: Callable[[Tx], Awaitable[T]]) -> T:
        """One transaction; `work` may run more than once (see `Database.run`)."""
        result = await self.ctx.db.run_tenant(self.org_id, work, self.cause)
        if self.cause.audit is not None:
            self.cause.audit.committed.append(True)  # its row is in
        return result

    async def read_behind(self, work: Callable[[Tx], Awaitable[T]]) -> T:
        """A read that may lag by up to GRANTLEDGER_READ_MAX_LAG_MS: on a read replica when
        one is configured and within it, else on the primary (docs/scale-out.md). Only for
        lists and history, never for what decides or for the current balances."""
        return await self.ctx.db.read_behind(self.org_id, work)

    async def read_as_of(self, work: Callable[[Tx], Awaitable[T]], as_of: datetime | None) -> T:
        """A read of the ledger at `as_of`: on a replica only when `as_of` is further in the
        past than the lag bound (a replica within it has replayed everything committed before
        then); the current figures, and a recent past, from the primary."""
        bound = timedelta(milliseconds=self.ctx.db.max_read_lag_ms)
        if as_of is not None and self.ctx.db.replicas is not None and as_of <= self.now() - bound:
            return await self.read_behind(work)
        return await self.run(work)

    async def found(self, query: Callable[[Tx], Awaitable[T | None]], missing: str) -> T:
        """`query`'s record, or NotFound(missing) when it finds none."""
        record = await self.run(query)
        if record is None:
            raise NotFound(missing)
        return record
