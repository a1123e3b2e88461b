"""Credit rows: the domain view of each credit plus its descriptive fields.

Their append-only transactions live in `credit_transactions`, holds on them in `holds`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from grantledger.domain.credits import Credit, CreditStatus
from grantledger.domain.journal import Position
from grantledger.store.paging import Page, fetch_page
from grantledger.store.tables import credits
from grantledger.store.tx import Tx


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
    cost_basis: Decimal | None = None  # per unit, in the credit's currency; None: not known

    @property
    def id(self) -> str:
        return self.ledger.id

    @classmethod
    def granted(
        cls,
        ledger: Credit,
        org_id: str,
        account_id: str,
        customer_id: str,
        currency: str,
        purpose: str,
        *,
        grantor_id: str | None,
        idempotency_key: str | None,
        request_hash: str,
        cost_basis: Decimal | None = None,
    ) -> CreditRecord:
        """The row of a credit just made (`domain.credits.grant`), in the account's currency."""
        return cls(
            ledger=ledger,
            org_id=org_id,
            account_id=account_id,
            customer_id=customer_id,
            purpose=purpose,
            credit_unit=currency,
            grantor_id=grantor_id,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            updated_at=ledger.created_at,
            cost_basis=cost_basis,
        )


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
        cost_basis=m["cost_basis"],
    )


async def insert_credit(tx: Tx, record: CreditRecord) -> None:
    """The row belongs to the transaction's organization, whatever `record.org_id` says."""
    c = record.ledger
    await tx.conn.execute(
        credits.insert().values(
            id=c.id,
            org_id=tx.org_id,
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
            cost_basis=record.cost_basis,
        )
    )


async def save_ledger_state(
    tx: Tx, record: CreditRecord, state: Credit, at: datetime
) -> CreditRecord:
    """Write back the cached split of a credit after a transition."""
    await tx.conn.execute(
        credits.update()
        .where(credits.c.id == state.id, credits.c.org_id == tx.org_id)
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


async def get_credit(tx: Tx, credit_id: str, *, lock: bool = False) -> CreditRecord | None:
    query = sa.select(credits).where(credits.c.org_id == tx.org_id, credits.c.id == credit_id)
    if lock:
        query = query.with_for_update()
    row = (await tx.conn.execute(query)).first()
    return _record(row) if row else None


async def credits_by_idempotency_key(tx: Tx, keys: Sequence[str]) -> dict[str, CreditRecord]:
    if not keys:
        return {}
    rows = await tx.conn.execute(
        sa.select(credits).where(credits.c.org_id == tx.org_id, credits.c.idempotency_key.in_(keys))
    )
    found = [_record(r) for r in rows]
    return {r.idempotency_key: r for r in found if r.idempotency_key is not None}


async def account_credits(
    tx: Tx,
    account_id: str,
    *,
    statuses: Iterable[CreditStatus] | None = None,
    lock: bool = False,
) -> list[CreditRecord]:
    """An account's credits in id order (the fixed order in which their rows are locked)."""
    query = sa.select(credits).where(
        credits.c.org_id == tx.org_id, credits.c.account_id == account_id
    )
    if statuses is not None:
        query = query.where(credits.c.status.in_([s.value for s in statuses]))
    query = query.order_by(credits.c.id)
    if lock:
        query = query.with_for_update()
    return [_record(r) for r in await tx.conn.execute(query)]


async def account_has_credits(tx: Tx, account_id: str) -> bool:
    query = sa.select(
        sa.exists().where(credits.c.org_id == tx.org_id, credits.c.account_id == account_id)
    )
    return bool((await tx.conn.execute(query)).scalar_one())


async def list_credits(
    tx: Tx,
    *,
    status: str | None,
    account_id: str | None,
    credit_id: str | None,
    after: str | None,
    limit: int,
) -> Page[CreditRecord]:
    query = sa.select(credits).where(credits.c.org_id == tx.org_id)
    if status is not None:
        query = query.where(credits.c.status == status)
    if account_id is not None:
        query = query.where(credits.c.account_id == account_id)
    if credit_id is not None:
        query = query.where(credits.c.id == credit_id)
    page = await fetch_page(tx.conn, query, credits.c.id, after=after, limit=limit)
    return Page([_record(r) for r in page.items], page.last_key)


def _due(today: date) -> sa.Select[Any]:
    """(org, account) pairs holding ACTIVE credits whose window ended before `today`."""
    return sa.select(credits.c.org_id, credits.c.account_id).where(
        credits.c.status == CreditStatus.ACTIVE.value, credits.c.effective_until < today
    )


def _distinct_accounts(query: sa.Select[Any], limit: int) -> sa.Select[Any]:
    return query.distinct().order_by(credits.c.org_id, credits.c.account_id).limit(limit)


async def due_accounts(
    tx: Tx,
    today: date,
    limit: int,
    *,
    account_id: str | None = None,
    credit_id: str | None = None,
) -> list[str]:
    """The tenant's accounts holding ACTIVE credits whose window ended before `today`."""
    query = _due(today).where(credits.c.org_id == tx.org_id)
    if account_id is not None:
        query = query.where(credits.c.account_id == account_id)
    if credit_id is not None:
        query = query.where(credits.c.id == credit_id)
    rows = await tx.conn.execute(_distinct_accounts(query, limit))
    return [r.account_id for r in rows]


# --- across every organization (the sweeper, verify) ------------------------------------------


async def accounts_with_due_credits(
    conn: AsyncConnection, today: date, limit: int
) -> list[tuple[str, str]]:
    """(org, account) pairs, over every organization, holding credits due for expiry."""
    rows = await conn.execute(_distinct_accounts(_due(today), limit))
    return [(r.org_id, r.account_id) for r in rows]


@dataclass(frozen=True)
class CachedCredit:
    """A credit row's figures exactly as stored, for `verify`. Not a `Credit`: its invariants
    refuse the very rows verify exists to report (a cache changed behind the ledger's back)."""

    id: str
    org_id: str
    credit_amount: Decimal
    status: str
    consumed: Decimal
    held: Decimal
    expired: Decimal
    voided: Decimal

    @property
    def remaining(self) -> Decimal:
        return self.credit_amount - self.consumed - self.held - self.expired - self.voided

    @property
    def figures(self) -> Position:
        """What the journal's rows of the credit must sum to: its balance (held money
        included) and what is held."""
        return Position(self.credit_amount - self.consumed - self.expired - self.voided, self.held)


async def all_credits(
    conn: AsyncConnection, after: str | None, limit: int, org_id: str | None = None
) -> Page[CachedCredit]:
    """Every credit of every organization (or of one), as stored (the one read that crosses
    tenants)."""
    query = sa.select(credits)
    if org_id is not None:
        query = query.where(credits.c.org_id == org_id)
    page = await fetch_page(conn, query, credits.c.id, after=after, limit=limit)
    return Page(
        [
            CachedCredit(
                id=r.id,
                org_id=r.org_id,
                credit_amount=r.credit_amount,
                status=r.status,
                consumed=r.consumed_amount,
                held=r.hold_amount,
                expired=r.expired_amount,
                voided=r.voided_amount,
            )
            for r in page.items
        ],
        page.last_key,
    )
