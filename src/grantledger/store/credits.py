"""Credit rows, their append-only transactions, and hold rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from grantledger.domain.credits import Credit, CreditStatus
from grantledger.store.paging import Page, fetch_page
from grantledger.store.tables import (
    credit_hold_allocations,
    credit_holds,
    credit_transactions,
    credits,
)


@dataclass(frozen=True)
class CreditRecord:
    """A credit row: the domain view plus the descriptive fields the wire returns."""

    ledger: Credit
    org_id: str
    account_id: str
    customer_id: str
    purpose: str
    credit_unit: str
    grantor_id: str | None
    idempotency_key: str | None
    request_hash: str
    updated_at: datetime

    @property
    def id(self) -> str:
        return self.ledger.id


def _record(row: sa.Row[Any]) -> CreditRecord:
    m = row._mapping
    ids = m["applicable_entity_ids"]
    ledger = Credit(
        id=m["id"],
        priority=m["priority"],
        effective_from=m["effective_from"],
        effective_until=m["effective_until"],
        created_at=m["created_at"],
        applicable_entity_ids=tuple(ids) if ids is not None else None,
        credit_amount=m["credit_amount"],
        status=CreditStatus(m["status"]),
        consumed=m["consumed_amount"],
        held=m["hold_amount"],
        expired=m["expired_amount"],
        voided=m["voided_amount"],
    )
    return CreditRecord(
        ledger=ledger,
        org_id=m["org_id"],
        account_id=m["account_id"],
        customer_id=m["customer_id"],
        purpose=m["purpose"],
        credit_unit=m["credit_unit"],
        grantor_id=m["grantor_id"],
        idempotency_key=m["idempotency_key"],
        request_hash=m["request_hash"],
        updated_at=m["updated_at"],
    )


async def insert_credit(conn: AsyncConnection, record: CreditRecord) -> None:
    c = record.ledger
    await conn.execute(
        credits.insert().values(
            id=c.id,
            org_id=record.org_id,
            account_id=record.account_id,
            customer_id=record.customer_id,
            purpose=record.purpose,
            applicable_entity_ids=list(c.applicable_entity_ids)
            if c.applicable_entity_ids is not None
            else None,
            effective_from=c.effective_from,
            effective_until=c.effective_until,
            credit_amount=c.credit_amount,
            credit_unit=record.credit_unit,
            priority=c.priority,
            grantor_id=record.grantor_id,
            idempotency_key=record.idempotency_key,
            request_hash=record.request_hash,
            status=c.status.value,
            consumed_amount=c.consumed,
            hold_amount=c.held,
            expired_amount=c.expired,
            voided_amount=c.voided,
            created_at=c.created_at,
            updated_at=record.updated_at,
        )
    )


async def save_ledger_state(
    conn: AsyncConnection, record: CreditRecord, state: Credit, at: datetime
) -> CreditRecord:
    """Write back the cached split of a credit after a transition."""
    await conn.execute(
        credits.update()
        .where(credits.c.id == state.id, credits.c.org_id == record.org_id)
        .values(
            status=state.status.value,
            consumed_amount=state.consumed,
            hold_amount=state.held,
            expired_amount=state.expired,
            voided_amount=state.voided,
            updated_at=at,
        )
    )
    return replace(record, ledger=state, updated_at=at)


async def get_credit(
    conn: AsyncConnection, org_id: str, credit_id: str, *, lock: bool = False
) -> CreditRecord | None:
    query = sa.select(credits).where(credits.c.org_id == org_id, credits.c.id == credit_id)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return _record(row) if row else None


async def credits_by_idempotency_key(
    conn: AsyncConnection, org_id: str, keys: Sequence[str]
) -> dict[str, CreditRecord]:
    if not keys:
        return {}
    rows = await conn.execute(
        sa.select(credits).where(credits.c.org_id == org_id, credits.c.idempotency_key.in_(keys))
    )
    found = [_record(r) for r in rows]
    return {r.idempotency_key: r for r in found if r.idempotency_key is not None}


async def account_credits(
    conn: AsyncConnection,
    org_id: str,
    account_id: str,
    *,
    statuses: Iterable[CreditStatus] | None = None,
    lock: bool = False,
) -> list[CreditRecord]:
    """An account's credits in id order (the fixed order in which their rows are locked)."""
    query = sa.select(credits).where(credits.c.org_id == org_id, credits.c.account_id == account_id)
    if statuses is not None:
        query = query.where(credits.c.status.in_([s.value for s in statuses]))
    query = query.order_by(credits.c.id)
    if lock:
        query = query.with_for_update()
    return [_record(r) for r in await conn.execute(query)]


async def account_has_credits(conn: AsyncConnection, org_id: str, account_id: str) -> bool:
    query = sa.select(
        sa.exists().where(credits.c.org_id == org_id, credits.c.account_id == account_id)
    )
    return bool((await conn.execute(query)).scalar_one())


async def list_credits(
    conn: AsyncConnection,
    org_id: str,
    *,
    status: str | None,
    account_id: str | None,
    credit_id: str | None,
    after: str | None,
    limit: int,
) -> Page[CreditRecord]:
    query = sa.select(credits).where(credits.c.org_id == org_id)
    if status is not None:
        query = query.where(credits.c.status == status)
    if account_id is not None:
        query = query.where(credits.c.account_id == account_id)
    if credit_id is not None:
        query = query.where(credits.c.id == credit_id)
    page = await fetch_page(conn, query, credits.c.id, after=after, limit=limit)
    return Page([_record(r) for r in page.items], page.last_key)


async def accounts_with_due_credits(
    conn: AsyncConnection,
    today: date,
    limit: int,
    *,
    org_id: str | None = None,
    account_id: str | None = None,
    credit_id: str | None = None,
) -> list[tuple[str, str]]:
    """(org, account) pairs holding ACTIVE credits whose window ended before `today`."""
    query = sa.select(credits.c.org_id, credits.c.account_id).where(
        credits.c.status == CreditStatus.ACTIVE.value, credits.c.effective_until < today
    )
    if org_id is not None:
        query = query.where(credits.c.org_id == org_id)
    if account_id is not None:
        query = query.where(credits.c.account_id == account_id)
    if credit_id is not None:
        query = query.where(credits.c.id == credit_id)
    rows = await conn.execute(
        query.distinct().order_by(credits.c.org_id, credits.c.account_id).limit(limit)
    )
    return [(r.org_id, r.account_id) for r in rows]


async def all_credits(conn: AsyncConnection, after: str | None, limit: int) -> Page[CreditRecord]:
    page = await fetch_page(conn, sa.select(credits), credits.c.id, after=after, limit=limit)
    return Page([_record(r) for r in page.items], page.last_key)


# --- transactions -------------------------------------------------------------------------


@dataclass(frozen=True)
class TransactionRecord:
    id: str
    credit_id: str
    transaction_type: str
    amount: Decimal
    invoice_id: str | None
    entity_id: str | None
    created_at: datetime


async def insert_transactions(
    conn: AsyncConnection, org_id: str, records: Sequence[TransactionRecord]
) -> None:
    if not records:
        return
    await conn.execute(
        credit_transactions.insert(),
        [
            {
                "id": t.id,
                "org_id": org_id,
                "credit_id": t.credit_id,
                "transaction_type": t.transaction_type,
                "amount": t.amount,
                "invoice_id": t.invoice_id,
                "entity_id": t.entity_id,
                "created_at": t.created_at,
            }
            for t in records
        ],
    )


async def transactions_of(
    conn: AsyncConnection, org_id: str, credit_ids: Sequence[str]
) -> list[TransactionRecord]:
    if not credit_ids:
        return []
    rows = await conn.execute(
        sa.select(credit_transactions)
        .where(
            credit_transactions.c.org_id == org_id,
            credit_transactions.c.credit_id.in_(credit_ids),
        )
        .order_by(
            credit_transactions.c.created_at,
            # At one instant (a frozen clock, a grant expired on arrival) the CREDITED
            # transaction that opens a credit still reads first; ids break the other ties.
            sa.case((credit_transactions.c.transaction_type == "CREDITED", 0), else_=1),
            credit_transactions.c.id,
        )
    )
    return [
        TransactionRecord(
            id=r.id,
            credit_id=r.credit_id,
            transaction_type=r.transaction_type,
            amount=r.amount,
            invoice_id=r.invoice_id,
            entity_id=r.entity_id,
            created_at=r.created_at,
        )
        for r in rows
    ]


# --- holds ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AllocationRecord:
    line_index: int
    credit_id: str
    amount: Decimal


@dataclass(frozen=True)
class HoldRecord:
    id: str
    org_id: str
    account_id: str
    invoice_id: str
    kind: str
    request_hash: str
    lines: list[dict[str, Any]]
    status: str
    created_at: datetime
    settled_at: datetime | None
    allocations: list[AllocationRecord]


async def get_hold(
    conn: AsyncConnection, org_id: str, account_id: str, invoice_id: str, *, lock: bool = False
) -> HoldRecord | None:
    query = sa.select(credit_holds).where(
        credit_holds.c.org_id == org_id,
        credit_holds.c.account_id == account_id,
        credit_holds.c.invoice_id == invoice_id,
    )
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    return (await _with_allocations(conn, [row]))[0]


async def _with_allocations(conn: AsyncConnection, rows: Sequence[sa.Row[Any]]) -> list[HoldRecord]:
    ids = [r.id for r in rows]
    by_hold: dict[str, list[AllocationRecord]] = {i: [] for i in ids}
    if ids:
        allocs = await conn.execute(
            sa.select(credit_hold_allocations)
            .where(credit_hold_allocations.c.hold_id.in_(ids))
            .order_by(credit_hold_allocations.c.hold_id, credit_hold_allocations.c.seq)
        )
        for a in allocs:
            by_hold[a.hold_id].append(AllocationRecord(a.line_index, a.credit_id, a.amount))
    return [
        HoldRecord(
            id=r.id,
            org_id=r.org_id,
            account_id=r.account_id,
            invoice_id=r.invoice_id,
            kind=r.kind,
            request_hash=r.request_hash,
            lines=r.lines,
            status=r.status,
            created_at=r.created_at,
            settled_at=r.settled_at,
            allocations=by_hold[r.id],
        )
        for r in rows
    ]


async def insert_hold(conn: AsyncConnection, hold: HoldRecord) -> None:
    await conn.execute(
        credit_holds.insert().values(
            id=hold.id,
            org_id=hold.org_id,
            account_id=hold.account_id,
            invoice_id=hold.invoice_id,
            kind=hold.kind,
            request_hash=hold.request_hash,
            lines=hold.lines,
            status=hold.status,
            created_at=hold.created_at,
            settled_at=hold.settled_at,
        )
    )
    if hold.allocations:
        await conn.execute(
            credit_hold_allocations.insert(),
            [
                {
                    "hold_id": hold.id,
                    "seq": seq,
                    "line_index": a.line_index,
                    "credit_id": a.credit_id,
                    "amount": a.amount,
                }
                for seq, a in enumerate(hold.allocations)
            ],
        )


async def settle_hold(
    conn: AsyncConnection, org_id: str, hold_id: str, status: str, at: datetime
) -> None:
    await conn.execute(
        credit_holds.update()
        .where(credit_holds.c.org_id == org_id, credit_holds.c.id == hold_id)
        .values(status=status, settled_at=at)
    )


async def list_holds(
    conn: AsyncConnection, org_id: str, account_id: str, after: str | None, limit: int
) -> Page[HoldRecord]:
    query = sa.select(credit_holds).where(
        credit_holds.c.org_id == org_id, credit_holds.c.account_id == account_id
    )
    page = await fetch_page(conn, query, credit_holds.c.id, after=after, limit=limit)
    return Page(await _with_allocations(conn, page.items), page.last_key)


@dataclass(frozen=True)
class CreditHoldEvent:
    """One reservation on one credit, with when it began and when its hold settled."""

    credit_id: str
    amount: Decimal
    status: str
    created_at: datetime
    settled_at: datetime | None


async def hold_events_of(
    conn: AsyncConnection, org_id: str, credit_ids: Sequence[str]
) -> list[CreditHoldEvent]:
    if not credit_ids:
        return []
    rows = await conn.execute(
        sa.select(
            credit_hold_allocations.c.credit_id,
            credit_hold_allocations.c.amount,
            credit_holds.c.status,
            credit_holds.c.created_at,
            credit_holds.c.settled_at,
        )
        .join(credit_holds, credit_holds.c.id == credit_hold_allocations.c.hold_id)
        .where(
            credit_holds.c.org_id == org_id,
            credit_hold_allocations.c.credit_id.in_(credit_ids),
        )
    )
    return [
        CreditHoldEvent(r.credit_id, r.amount, r.status, r.created_at, r.settled_at) for r in rows
    ]
