"""Reads of `verify`: every entry of every organization, and the draws that should sum to
each entry's `used`."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from grantledger.store.entitlements.entries import EntryRecord, entry_record
from grantledger.store.paging import Page, fetch_page
from grantledger.store.tables import draws, feature_entries
from grantledger.store.tx import Tx


async def all_entries(
    conn: AsyncConnection, after: str | None, limit: int
) -> Page[tuple[str, EntryRecord]]:
    """(organization id, entry) of every tenant: the one read that crosses tenants."""
    page = await fetch_page(
        conn, sa.select(feature_entries), feature_entries.c.row_key, after=after, limit=limit
    )
    return Page([(r.org_id, entry_record(r)) for r in page.items], page.last_key)


async def draw_sums(
    tx: Tx, keys: Sequence[tuple[str, str, str]]
) -> dict[tuple[str, str, str], Decimal]:
    """Σ draws per (account, feature, entry) for the given entries of the organization."""
    sums: dict[tuple[str, str, str], Decimal] = {k: Decimal(0) for k in keys}
    if not keys:
        return sums
    accounts = {k[0] for k in keys}
    rows = await tx.conn.execute(
        sa.select(draws.c.account_id, draws.c.feature_id, draws.c.entry_id, draws.c.amount).where(
            draws.c.org_id == tx.org_id, draws.c.account_id.in_(accounts)
        )
    )
    for r in rows:
        key = (r.account_id, r.feature_id, r.entry_id)
        if key in sums:
            sums[key] += r.amount
    return sums
