"""Reading the journal: a page after a cursor, and every row of a range for an export."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from grantledger.domain.errors import InvalidInput
from grantledger.domain.journal import START, Cursor, JournalKind
from grantledger.service.context import Tenant
from grantledger.store.books import journal as store
from grantledger.store.books.journal import JournalFilter, JournalRow
from grantledger.store.tx import Tx

EXPORT_CHUNK = 1000  # rows per transaction of an export: memory stays flat, none held long


@dataclass(frozen=True)
class JournalPage:
    rows: list[JournalRow]
    # Where the next read continues: the last row's cursor, or the one asked after when the
    # page is empty (a reader polls again from it).
    cursor: Cursor
    more: bool


def journal_filter(
    occurred_from: datetime | None,
    occurred_to: datetime | None,
    account_id: str | None,
    kinds: tuple[str, ...],
) -> JournalFilter:
    if occurred_from is not None and occurred_to is not None and occurred_to <= occurred_from:
        raise InvalidInput("to must be after from")
    known = {k.value for k in JournalKind}
    for kind in kinds:
        if kind not in known:
            raise InvalidInput(f"kind must be one of {', '.join(sorted(known))}, not {kind!r:.60}")
    return JournalFilter(occurred_from, occurred_to, account_id, kinds)


async def page(
    tenant: Tenant, where: JournalFilter, after: Cursor | None, limit: int
) -> JournalPage:
    start = after or START

    async def work(tx: Tx) -> list[JournalRow]:
        return await store.read_after(tx, start, limit + 1, where)

    rows = await tenant.run(work)
    kept = rows[:limit]
    return JournalPage(kept, kept[-1].cursor if kept else start, len(rows) > limit)


async def every_row(
    tenant: Tenant, where: JournalFilter, after: Cursor | None
) -> AsyncIterator[JournalRow]:
    """The rows after `after`, a chunk per transaction, up to the settled end of the journal."""
    cursor = after or START
    while True:
        chunk = await page(tenant, where, cursor, EXPORT_CHUNK)
        for row in chunk.rows:
            yield row
        if not chunk.more:
            return
        cursor = chunk.cursor
