"""Group commit of `/entitled`: the events a process receives while its gate transaction is in
flight go together into the next one.

One queue per (database, organization) in each process. The first request finding its queue
idle starts a drain task; the task takes everything waiting (up to `MAX_BATCH`), decides it
in one transaction (`gate_batch.ingest_batch`), answers each request with its own outcome, and
goes on while requests keep arriving. Nothing here decides an outcome: the database's locks
and unique keys do, as with several processes, so process memory holds only who is waiting.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from grantledger.service.context import Tenant
from grantledger.service.entitlements.gate_batch import Outcome, Received, ingest_batch
from grantledger.store.database import Database
from grantledger.store.tx import NO_CAUSE

# Bounds one transaction's statements (10 bound values per event row, far below the drivers'
# limits) and the time its row locks are held.
MAX_BATCH = 128


@dataclass
class _Queue:
    tenant: Tenant
    waiting: list[tuple[Received, asyncio.Future[Outcome]]] = field(default_factory=list)
    draining: asyncio.Task[None] | None = None


_queues: weakref.WeakKeyDictionary[Database, dict[str, _Queue]] = weakref.WeakKeyDictionary()


async def submit(tenant: Tenant, received: Received) -> Outcome:
    """Queue one event for the next group-committed transaction and wait for its outcome."""
    [future] = _enqueue(tenant, [received])
    # Shielded: a caller that goes away does not cancel its neighbours' transaction.
    return await asyncio.shield(future)


async def submit_many(tenant: Tenant, batch: Sequence[Received]) -> list[Outcome]:
    """Queue events in their order (an `/ingestBatch`): they are decided in that order, in as
    many group-committed transactions as `MAX_BATCH` makes, each with its own outcome."""
    return list(await asyncio.shield(asyncio.gather(*_enqueue(tenant, batch))))


def _enqueue(tenant: Tenant, batch: Sequence[Received]) -> list[asyncio.Future[Outcome]]:
    queues = _queues.setdefault(tenant.ctx.db, {})
    queue = queues.get(tenant.org_id)
    if queue is None:
        # A batch answers many requests: its transaction is no one request's (each event names
        # its own id, each /entitled request its own audit row).
        queue = queues[tenant.org_id] = _Queue(replace(tenant, cause=NO_CAUSE))
    loop = asyncio.get_running_loop()
    futures: list[asyncio.Future[Outcome]] = [loop.create_future() for _ in batch]
    queue.waiting.extend(zip(batch, futures, strict=True))
    if queue.draining is None:
        queue.draining = asyncio.create_task(_drain(queue))
    return futures


async def _drain(queue: _Queue) -> None:
    try:
        while queue.waiting:
            batch = queue.waiting[:MAX_BATCH]
            del queue.waiting[:MAX_BATCH]
            try:
                outcomes = await ingest_batch(queue.tenant, [r for r, _ in batch])
            except BaseException as error:  # the whole transaction failed: each caller hears it
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                if not isinstance(error, Exception):
                    raise
                continue
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if not future.done():
                    future.set_result(outcome)
    finally:
        queue.draining = None
        # A request queued between the last check and here must not wait for the next one.
        if queue.waiting:
            queue.draining = asyncio.create_task(_drain(queue))
