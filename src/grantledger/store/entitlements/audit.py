"""Reads of `verify`: every entry of every organization, and the draws that should sum to
each entry's `used`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from grantledger.store.paging import Page, fetch_page
from grantledger.store.tables import (
    draws,
    event_corrections,
    feature_entries,
    reversals,
    schedules,
)
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
    voided: bool = False


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
            voided=r.voided_at is not None,
        )
        for r in page.items
    ]
    return Page(found, page.last_key)


async def draw_sums(
    tx: Tx, keys: Sequence[tuple[str, str, str]]
) -> dict[tuple[str, str, str], Decimal]:
    """Σ draws - Σ reversals per (account, feature, entry) for the given entries of the
    organization: what each entry's `used` must be."""
    sums: dict[tuple[str, str, str], Decimal] = {k: Decimal(0) for k in keys}
    if not keys:
        return sums
    accounts = {k[0] for k in keys}
    for table, sign in ((draws, 1), (reversals, -1)):
        rows = await tx.conn.execute(
            sa.select(
                table.c.account_id, table.c.feature_id, table.c.entry_id, table.c.amount
            ).where(table.c.org_id == tx.org_id, table.c.account_id.in_(accounts))
        )
        for r in rows:
            key = (r.account_id, r.feature_id, r.entry_id)
            if key in sums:
                sums[key] += sign * r.amount
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


async def correction_problems(conn: AsyncConnection, org_id: str | None = None) -> list[str]:
    """Corrections that do not mirror their event: a reversal that is not the exact opposite
    of a draw of a corrected event, or a corrected event with a draw left unreversed."""
    joined = sa.and_(
        draws.c.org_id == reversals.c.org_id,
        draws.c.event_pk == reversals.c.event_pk,
        draws.c.seq == reversals.c.seq,
    )
    corrected = sa.exists().where(
        event_corrections.c.org_id == reversals.c.org_id,
        event_corrections.c.event_pk == reversals.c.event_pk,
    )
    stray = (
        sa.select(reversals.c.org_id, reversals.c.event_pk, reversals.c.seq)
        .select_from(reversals.outerjoin(draws, joined))
        .where(
            sa.or_(
                draws.c.event_pk.is_(None),
                draws.c.amount != reversals.c.amount,
                draws.c.entry_id != reversals.c.entry_id,
                draws.c.feature_id != reversals.c.feature_id,
                ~corrected,
            )
        )
    )
    unreversed = (
        sa.select(draws.c.org_id, draws.c.event_pk, draws.c.seq)
        .select_from(
            draws.join(
                event_corrections,
                sa.and_(
                    event_corrections.c.org_id == draws.c.org_id,
                    event_corrections.c.event_pk == draws.c.event_pk,
                ),
            ).outerjoin(reversals, joined)
        )
        .where(reversals.c.event_pk.is_(None))
    )
    if org_id is not None:
        stray = stray.where(reversals.c.org_id == org_id)
        unreversed = unreversed.where(draws.c.org_id == org_id)
    problems = [
        f"event {r.event_pk} (organization {r.org_id}): reversal {r.seq} does not reverse "
        "a draw of a corrected event"
        for r in await conn.execute(stray.order_by(reversals.c.org_id, reversals.c.event_pk))
    ]
    problems += [
        f"event {r.event_pk} (organization {r.org_id}): corrected, but draw {r.seq} was "
        "not reversed"
        for r in await conn.execute(unreversed.order_by(draws.c.org_id, draws.c.event_pk))
    ]
    return problems
