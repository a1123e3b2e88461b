"""The append-only transactions of credits: every movement of an amount, never changed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from grantledger.domain.credits import Movement, TransactionType
from grantledger.domain.journal import JournalKind
from grantledger.store.backend import specialised
from grantledger.store.books.journal import CreditMove, append_credit_moves
from grantledger.store.tables import credit_transactions
from grantledger.store.tx import Tx


@dataclass(frozen=True)
class TransactionRecord:
    id: str
    credit_id: str
    transaction_type: str
    amount: Decimal
    invoice_id: str | None
    entity_id: str | None
    created_at: datetime

    @classmethod
    def of(
        cls,
        transaction_id: str,
        credit_id: str,
        movement: Movement,
        at: datetime,
        *,
        invoice_id: str | None = None,
        entity_id: str | None = None,
    ) -> TransactionRecord:
        """The row of a movement a transition of `domain.credits` asks to append."""
        return cls(
            id=transaction_id,
            credit_id=credit_id,
            transaction_type=movement.type.value,
            amount=movement.amount,
            invoice_id=invoice_id,
            entity_id=entity_id,
            created_at=at,
        )


def transaction_of(row: Any) -> TransactionRecord:
    """The record of a `credit_transactions` row (or of a query selecting all its columns)."""
    return TransactionRecord(
        id=row.id,
        credit_id=row.credit_id,
        transaction_type=row.transaction_type,
        amount=row.amount,
        invoice_id=row.invoice_id,
        entity_id=row.entity_id,
        created_at=row.created_at,
    )


_JOURNAL_KIND = {
    TransactionType.CREDITED.value: JournalKind.GRANT,
    TransactionType.DEBITED.value: JournalKind.DEBIT,
    TransactionType.EXPIRED.value: JournalKind.EXPIRY,
    TransactionType.VOIDED.value: JournalKind.VOID,
}


async def insert_transactions(
    tx: Tx,
    records: Sequence[TransactionRecord],
    *,
    kind: JournalKind | None = None,
    at: datetime | None = None,
) -> None:
    """Append the transactions and their journal rows. `kind` names what the journal calls
    them where the transaction type alone does not say (a CAPTURE of held money, an
    AUTO_TOP_UP); a CAPTURE also takes its amount off what is held. `at` is when they are
    recorded (by default their own instant; an expiry is dated when the credit expired)."""
    if not records:
        return
    await tx.conn.execute(
        credit_transactions.insert(),
        [
            {
                "id": t.id,
                "org_id": tx.org_id,
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
    moves = []
    for t in records:
        chosen = kind or _JOURNAL_KIND[t.transaction_type]
        sign = 1 if t.transaction_type == TransactionType.CREDITED.value else -1
        held = -t.amount if chosen is JournalKind.CAPTURE else Decimal(0)
        moves.append(
            CreditMove(t.credit_id, chosen, sign * t.amount, t.created_at, held, t.invoice_id)
        )
    await append_credit_moves(tx, moves, at or max(t.created_at for t in records))


async def transactions_of(tx: Tx, credit_ids: Sequence[str]) -> list[TransactionRecord]:
    if not credit_ids:
        return []
    rows = await tx.conn.execute(
        sa.select(credit_transactions)
        .where(
            credit_transactions.c.org_id == tx.org_id,
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
    return [transaction_of(r) for r in rows]


_NOT_DEBITS = ("EXPIRED", "VOIDED")


async def expiries_and_voids_of(tx: Tx, credit_ids: Sequence[str]) -> list[TransactionRecord]:
    """The credits' EXPIRED and VOIDED transactions (at most a few per credit), by time."""
    if not credit_ids:
        return []
    rows = await tx.conn.execute(
        sa.select(credit_transactions)
        .where(
            credit_transactions.c.org_id == tx.org_id,
            credit_transactions.c.credit_id.in_(credit_ids),
            credit_transactions.c.transaction_type.in_(_NOT_DEBITS),
        )
        .order_by(credit_transactions.c.created_at, credit_transactions.c.id)
    )
    return [transaction_of(r) for r in rows]


@dataclass(frozen=True)
class DebitsAround:
    """A credit's debits around an instant: the sum of those after it, and when the last one
    at or before it was made (None: there was none)."""

    after: Decimal
    last_until: datetime | None


@specialised
async def debits_around(tx: Tx, credit_id: str, at: datetime) -> DebitsAround:
    """Costs the debits made after `at`, not every debit the credit ever had
    (`ix_credit_transactions_kind_time`): with the credit's `consumed_amount` (Σ debits,
    checked by `grantledger verify`) that says what was consumed at `at`. SQLite stores
    amounts as text, so they are summed here (PostgreSQL sums them: `store/pg/sums.py`)."""
    debits = debits_of(tx, credit_id)
    rows = await tx.conn.execute(
        sa.select(credit_transactions.c.amount).where(debits, credit_transactions.c.created_at > at)
    )
    return DebitsAround(sum((r.amount for r in rows), Decimal(0)), await last_debit(tx, debits, at))


def debits_of(tx: Tx, credit_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(
        credit_transactions.c.org_id == tx.org_id,
        credit_transactions.c.credit_id == credit_id,
        credit_transactions.c.transaction_type == "DEBITED",
    )


async def last_debit(tx: Tx, debits: sa.ColumnElement[bool], at: datetime) -> datetime | None:
    """When the last of `debits` at or before `at` was made (None: there was none)."""
    last = await tx.conn.execute(
        sa.select(credit_transactions.c.created_at)
        .where(debits, credit_transactions.c.created_at <= at)
        .order_by(credit_transactions.c.created_at.desc())
        .limit(1)
    )
    return last.scalar()
