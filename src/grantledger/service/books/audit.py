"""The audit log's use cases: the row of a request no transaction recorded, and a page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from grantledger.domain.errors import InvalidInput
from grantledger.domain.journal import START, Cursor
from grantledger.service.books.journal import EXPORT_CHUNK
from grantledger.service.context import Context, Tenant
from grantledger.store.books import audit as store
from grantledger.store.books.audit import AuditFilter, AuditRow
from grantledger.store.tx import Audit, Tx


async def record_answer(ctx: Context, org_id: str, audit: Audit, status: int) -> None:
    """After the answer: the request's row, if none of its transactions committed one (it was
    refused, or changed nothing); a row already there is left as it is."""
    outcome = store.REFUSED if status >= 400 else store.APPLIED

    async def work(tx: Tx) -> None:
        await store.record(tx, audit, audit.at, outcome, status)

    # The plain tenant: its transaction must not write the request's row a second way.
    await ctx.tenant(org_id).run(work)


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditRow]
    cursor: Cursor
    more: bool


def audit_filter(
    at_from: datetime | None, at_to: datetime | None, actor: str | None, resource: str | None
) -> AuditFilter:
    if at_from is not None and at_to is not None and at_to <= at_from:
        raise InvalidInput("to must be after from")
    return AuditFilter(at_from, at_to, actor, resource)


async def page(tenant: Tenant, where: AuditFilter, after: Cursor | None, limit: int) -> AuditPage:
    start = after or START

    async def work(tx: Tx) -> list[AuditRow]:
        return await store.read_after(tx, start, limit + 1, where)

    rows = await tenant.run(work)
    kept = rows[:limit]
    return AuditPage(kept, kept[-1].cursor if kept else start, len(rows) > limit)


async def every_row(
    tenant: Tenant, where: AuditFilter, after: Cursor | None
) -> AsyncIterator[AuditRow]:
    """The rows after `after`, a chunk per transaction, up to the settled end of the log."""
    cursor = after or START
    while True:
        chunk = await page(tenant, where, cursor, EXPORT_CHUNK)
        for row in chunk.rows:
            yield row
        if not chunk.more:
            return
        cursor = chunk.cursor
