"""Holds on credits, keyed by invoice, and how each one is spread over the credits it reserves."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from grantledger.domain.credits import Line
from grantledger.domain.holds import HoldKind, HoldStatus
from grantledger.domain.journal import JournalKind
from grantledger.domain.money import canonical
from grantledger.store.books.journal import CreditMove
from grantledger.store.paging import Page, fetch_page
from grantledger.store.tables import credit_hold_allocations, credit_holds
from grantledger.store.tx import Tx


@dataclass(frozen=True)
class AllocationRecord:
    line_index: int
    credit_id: str
    amount: Decimal


@dataclass(frozen=True)
class HoldRecord:
    id: str
    account_id: str
    invoice_id: str
    kind: HoldKind
    request_hash: str
    lines: tuple[Line, ...]
    status: HoldStatus
    created_at: datetime
    settled_at: datetime | None
    allocations: tuple[AllocationRecord, ...]
    expires_at: datetime | None = None


def _stored_lines(lines: Sequence[Line]) -> list[dict[str, Any]]:
    return [
        {
            "entityId": line.entity_id,
            "entityType": line.entity_type,
            "amount": canonical(line.amount),
        }
        for line in lines
    ]


def _lines(stored: Sequence[dict[str, Any]]) -> tuple[Line, ...]:
    return tuple(
        Line(line["entityId"], line.get("entityType"), Decimal(str(line["amount"])))
        for line in stored
    )


async def get_hold(
    tx: Tx, account_id: str, invoice_id: str, *, lock: bool = False
) -> HoldRecord | None:
    query = sa.select(credit_holds).where(
        credit_holds.c.org_id == tx.org_id,
        credit_holds.c.account_id == account_id,
        credit_holds.c.invoice_id == invoice_id,
    )
    if lock:
        query = query.with_for_update()
    row = (await tx.conn.execute(query)).first()
    if row is None:
        return None
    return (await _with_allocations(tx, [row]))[0]


async def _with_allocations(tx: Tx, rows: Sequence[sa.Row[Any]]) -> list[HoldRecord]:
    # The hold rows were read within the tenant; their ids select only its allocations.
    ids = [r.id for r in rows]
    by_hold: dict[str, list[AllocationRecord]] = {i: [] for i in ids}
    if ids:
        allocs = await tx.conn.execute(
            sa.select(credit_hold_allocations)
            .where(
                credit_hold_allocations.c.org_id == tx.org_id,
                credit_hold_allocations.c.hold_id.in_(ids),
            )
            .order_by(credit_hold_allocations.c.hold_id, credit_hold_allocations.c.seq)
        )
        for a in allocs:
            by_hold[a.hold_id].append(AllocationRecord(a.line_index, a.credit_id, a.amount))
    return [
        HoldRecord(
            id=r.id,
            account_id=r.account_id,
            invoice_id=r.invoice_id,
            kind=HoldKind(r.kind),
            request_hash=r.request_hash,
            lines=_lines(r.lines),
            status=HoldStatus(r.status),
            created_at=r.created_at,
            settled_at=r.settled_at,
            allocations=tuple(by_hold[r.id]),
            expires_at=r.expires_at,
        )
        for r in rows
    ]


async def insert_hold(tx: Tx, hold: HoldRecord) -> None:
    await tx.conn.execute(
        credit_holds.insert().values(
            id=hold.id,
            org_id=tx.org_id,
            account_id=hold.account_id,
            invoice_id=hold.invoice_id,
            kind=hold.kind.value,
            request_hash=hold.request_hash,
            lines=_stored_lines(hold.lines),
            status=hold.status.value,
            created_at=hold.created_at,
            settled_at=hold.settled_at,
            expires_at=hold.expires_at,
        )
    )
    if hold.allocations:
        await tx.conn.execute(
            credit_hold_allocations.insert(),
            [
                {
                    "org_id": tx.org_id,
                    "hold_id": hold.id,
                    "seq": seq,
                    "line_index": a.line_index,
                    "credit_id": a.credit_id,
                    "amount": a.amount,
                }
                for seq, a in enumerate(hold.allocations)
            ],
        )


async def settle_hold(tx: Tx, hold_id: str, status: HoldStatus, at: datetime) -> None:
    await tx.conn.execute(
        credit_holds.update()
        .where(credit_holds.c.org_id == tx.org_id, credit_holds.c.id == hold_id)
        .values(status=status.value, settled_at=at)
    )


async def list_holds(tx: Tx, account_id: str, after: str | None, limit: int) -> Page[HoldRecord]:
    query = sa.select(credit_holds).where(
        credit_holds.c.org_id == tx.org_id, credit_holds.c.account_id == account_id
    )
    page = await fetch_page(tx.conn, query, credit_holds.c.id, after=after, limit=limit)
    return Page(await _with_allocations(tx, page.items), page.last_key)


@dataclass(frozen=True)
class CreditHoldEvent:
    """One reservation on one credit, with when it began and when its hold settled."""

    credit_id: str
    amount: Decimal
    status: HoldStatus
    created_at: datetime
    settled_at: datetime | None


async def hold_events_of(tx: Tx, credit_ids: Sequence[str]) -> list[CreditHoldEvent]:
    if not credit_ids:
        return []
    rows = await tx.conn.execute(
        sa.select(
            credit_hold_allocations.c.credit_id,
            credit_hold_allocations.c.amount,
            credit_holds.c.status,
            credit_holds.c.created_at,
            credit_holds.c.settled_at,
            credit_holds.c.expires_at,
        )
        .join(
            credit_holds,
            sa.and_(
                credit_holds.c.org_id == credit_hold_allocations.c.org_id,
                credit_holds.c.id == credit_hold_allocations.c.hold_id,
            ),
        )
        .where(
            credit_holds.c.org_id == tx.org_id,
            credit_hold_allocations.c.org_id == tx.org_id,
            credit_hold_allocations.c.credit_id.in_(credit_ids),
        )
    )
    return [
        # A HELD hold with a time limit is given back at its limit, written yet or not.
        CreditHoldEvent(
            r.credit_id,
            r.amount,
            HoldStatus(r.status),
            r.created_at,
            r.settled_at or (r.expires_at if r.status == HoldStatus.HELD.value else None),
        )
        for r in rows
    ]


async def lapsed_holds(
    tx: Tx, account_id: str, now: datetime, *, lock: bool = False
) -> list[HoldRecord]:
    """The account's HELD holds past their time limit at `now`, oldest first."""
    query = (
        sa.select(credit_holds)
        .where(
            credit_holds.c.org_id == tx.org_id,
            credit_holds.c.account_id == account_id,
            credit_holds.c.status == HoldStatus.HELD.value,
            credit_holds.c.expires_at <= now,
        )
        .order_by(credit_holds.c.id)
    )
    if lock:
        query = query.with_for_update()
    return await _with_allocations(tx, (await tx.conn.execute(query)).all())


async def accounts_with_lapsed_holds(
    conn: AsyncConnection, now: datetime, limit: int
) -> list[tuple[str, str]]:
    """(org, account) pairs, over every organization, with HELD holds past their limit."""
    rows = await conn.execute(
        sa.select(credit_holds.c.org_id, credit_holds.c.account_id)
        .where(credit_holds.c.status == HoldStatus.HELD.value, credit_holds.c.expires_at <= now)
        .group_by(credit_holds.c.org_id, credit_holds.c.account_id)
        .order_by(credit_holds.c.org_id, credit_holds.c.account_id)
        .limit(limit)
    )
    return [(r.org_id, r.account_id) for r in rows]


def held_moves(hold: HoldRecord, kind: JournalKind, at: datetime) -> list[CreditMove]:
    """The journal rows of money held (HOLD) or given back (RELEASE): what is held on each
    credit moves, its balance does not."""
    sign = 1 if kind is JournalKind.HOLD else -1
    return [
        CreditMove(a.credit_id, kind, Decimal(0), at, sign * a.amount, hold.invoice_id)
        for a in hold.allocations
    ]
