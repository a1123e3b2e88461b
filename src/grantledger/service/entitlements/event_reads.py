"""Reading the events the gate and the ingestion judged: one, or a page of them, newest first."""

from __future__ import annotations

from grantledger.domain.corrections import STATUSES, StatusFilter, status_filter
from grantledger.domain.errors import InvalidInput
from grantledger.service.context import Tenant
from grantledger.store.entitlements import event_log
from grantledger.store.entitlements.event_log import EventFilter, EventLogRecord
from grantledger.store.paging import Page
from grantledger.store.tx import Tx


async def list_events(
    tenant: Tenant,
    *,
    account_id: str | None,
    schema_name: str | None,
    status: str | None,
    after: str | None,
    limit: int,
) -> Page[EventLogRecord]:
    wanted = StatusFilter()
    if status is not None:
        if status not in STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(STATUSES)}")
        wanted = status_filter(status)
    where = EventFilter(account_id, schema_name, wanted)

    async def work(tx: Tx) -> Page[EventLogRecord]:
        return await event_log.list_events(tx, where, after, limit)

    return await tenant.read_behind(work)


async def get_event(tenant: Tenant, reference: str) -> EventLogRecord:
    """One event by its reference id (the id the events list shows)."""

    async def work(tx: Tx) -> EventLogRecord | None:
        return await event_log.get_event(tx, reference)

    return await tenant.found(work, f"event {reference} not found")
