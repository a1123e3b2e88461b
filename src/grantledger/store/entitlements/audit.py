"""Reads of `verify`: every entry of every organization, and the draws that should sum to
each entry's `used`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from grantledger.store.paging import Page, fetch_page
from grantledger.store.tables import draws, feature_entries, schedules
from grantledger.store.tx import Tx


@dataclass(frozen=True)
class CachedEntry:
    """An entry row's figures exactly as stored, for `verify`. Not an `Entry`: its invariants
    refuse the very rows verify exists to report (`used` changed behind the ledger's back)."""

    org_id: str
    account_id: str
    feature_id: str
    id: str
    granted: Decimal
    used: Decimal
    carried: Decimal


async def all_entries(
    conn: AsyncConnection, after: str | None, limit: int, org_id: str | None = None
) -> Page[CachedEntry]:
    """Every entry of every tenant (or of one), as stored: the one read that crosses
    tenants."""
    query = sa.select(feature_entries)
    if org_id is not None:
        query = query.where(feature_entries.c.org_id == org_id)
    page = await fetch_page(conn, query, feature_entries.c.row_key, after=after, limit=limit)
    found = [
        CachedEntry(
            org_id=r.org_id,
            account_id=r.account_id,
            feature_id=r.feature_id,
            id=r.id,
            granted=r.granted,
            used=r.used,
            carried=r.carried if r.carried is not None else Decimal(0),
        )
        for r in page.items
    ]
    return Page(found, page.last_key)


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


async def accounts_on_plans(
    conn: AsyncConnection, org_id: str | None = None
) -> list[tuple[str, str]]:
    """(organization id, account id) of every account that has had a plan schedule (of one
    organization, or all): the accounts whose usage windows `verify` replays."""
    query = sa.select(schedules.c.org_id, schedules.c.account_id).distinct()
    if org_id is not None:
        query = query.where(schedules.c.org_id == org_id)
    rows = await conn.execute(query.order_by(schedules.c.org_id, schedules.c.account_id))
    return [(r.org_id, r.account_id) for r in rows]
