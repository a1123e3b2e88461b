"""The journal: appended in the transaction of each movement, read in commit order.

Rows are only ever inserted. Each names its subject (a credit or a feature entry) and carries
the subject's position after it, continued from the subject's previous row: every writer of a
subject holds its row lock (a credit's account, an entry's row), so a subject's rows are written
one transaction after another and the running figures cannot interleave.

The cursor is (`tx`, `seq`): on PostgreSQL `tx` is the writing transaction's id and a read
returns only rows of transactions below the oldest one still running (`Backend.settled_below`),
so a row can never later appear behind a cursor already handed out (docs/api.md, "The cursor").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from grantledger.domain.journal import Cursor, JournalKind, Position, running_positions
from grantledger.store.tables import accounts, credits, journal
from grantledger.store.tx import Tx

_CHUNK = 500  # ids per IN list: a back-dated schedule can store thousands of entries at once
ZERO = Decimal(0)


@dataclass(frozen=True)
class CreditMove:
    """A movement of one credit; the credit's account, unit and key are read with it."""

    credit_id: str
    kind: JournalKind
    amount: Decimal  # signed change of the credit's balance
    occurred_at: datetime
    held: Decimal = ZERO  # signed change of what is held on it
    invoice_id: str | None = None


@dataclass(frozen=True)
class EntryMove:
    """A movement of one feature entry (its unit is the feature)."""

    account_id: str
    feature_id: str
    entry_id: str
    kind: JournalKind
    amount: Decimal
    occurred_at: datetime
    event_id: str | None = None
    idempotency_key: str | None = None
    # Draws of a group-committed batch name their event, not the batch's first request.
    with_cause: bool = True
    # A grant (the entry's first row) names its cost basis; every later row repeats it.
    opens: bool = False
    cost_basis: Decimal | None = None
    # Units reserved (+) or let go (-) without being drawn: feature holds (issue 21) pass it.
    held: Decimal = ZERO


@dataclass(frozen=True)
class JournalRow:
    cursor: Cursor
    occurred_at: datetime
    recorded_at: datetime
    customer_id: str | None
    account_id: str
    kind: str
    subject: str
    feature_id: str | None
    unit: str
    amount: Decimal
    held: Decimal
    balance_after: Decimal
    held_after: Decimal
    event_id: str | None
    invoice_id: str | None
    idempotency_key: str | None
    request_id: str | None
    actor: str | None
    cost_basis: Decimal | None


def _chunks(ids: Sequence[str]) -> list[list[str]]:
    unique = sorted(set(ids))
    return [unique[i : i + _CHUNK] for i in range(0, len(unique), _CHUNK)]


async def _customers(tx: Tx, account_ids: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for chunk in _chunks(account_ids):
        rows = await tx.conn.execute(
            sa.select(accounts.c.id, accounts.c.customer_id).where(
                accounts.c.org_id == tx.org_id, accounts.c.id.in_(chunk)
            )
        )
        found.update({row.id: row.customer_id for row in rows})
    return found


# A subject's key: a credit's id is unique in its organization; a feature entry's id only with
# its account and feature (a plan cycle's entries share their id across the plan's features).
Key = tuple[str, str | None, str]


def key_of(row: Mapping[str, Any]) -> Key:
    return (row["account_id"], row["feature_id"], row["subject"])


async def _last_positions(
    tx: Tx, keys: Sequence[Key]
) -> tuple[dict[Key, Position], dict[Key, Decimal | None]]:
    found: dict[Key, Position] = {}
    bases: dict[Key, Decimal | None] = {}
    wanted = set(keys)
    j = journal.c
    for chunk in _chunks([subject for _, _, subject in keys]):
        latest = (
            sa.select(sa.func.max(j.seq))
            .where(j.org_id == tx.org_id, j.subject.in_(chunk))
            .group_by(j.account_id, j.feature_id, j.subject)
        )
        rows = await tx.conn.execute(
            sa.select(
                j.account_id, j.feature_id, j.subject, j.balance_after, j.held_after, j.cost_basis
            ).where(j.org_id == tx.org_id, j.seq.in_(latest))
        )
        for row in rows:
            key = (row.account_id, row.feature_id, row.subject)
            if key in wanted:
                found[key] = Position(row.balance_after, row.held_after)
                bases[key] = row.cost_basis
    return found, bases


async def _append(tx: Tx, rows: list[dict[str, Any]], at: datetime) -> None:
    """Insert `rows` (each with its subject's move), continuing each subject's position."""
    if not rows:
        return
    last, bases = await _last_positions(tx, [key_of(r) for r in rows])
    positions = running_positions(last, ((key_of(r), r["amount"], r["held"]) for r in rows))
    for row in rows:
        # A row that does not name its subject's cost basis repeats the subject's last one.
        if "cost_basis" in row:
            bases[key_of(row)] = row["cost_basis"]
        else:
            row["cost_basis"] = bases.get(key_of(row))
    customers = await _customers(tx, [r["account_id"] for r in rows])
    cause = tx.cause
    values = [
        {
            **row,
            "org_id": tx.org_id,
            "recorded_at": at,
            "customer_id": customers.get(row["account_id"]),
            "balance_after": position.balance,
            "held_after": position.held,
            "request_id": row.get("request_id", cause.request_id),
            "actor": row.get("actor", cause.actor),
        }
        for row, position in zip(rows, positions, strict=True)
    ]
    # The transaction's place in commit order is taken by the statement itself (no round trip).
    statement = journal.insert().values(tx=tx.backend.commit_order())
    await tx.conn.execute(statement, values)


async def append_credit_moves(tx: Tx, moves: Sequence[CreditMove], at: datetime) -> None:
    if not moves:
        return
    terms: dict[str, Any] = {}
    for chunk in _chunks([m.credit_id for m in moves]):
        rows = await tx.conn.execute(
            sa.select(
                credits.c.id,
                credits.c.account_id,
                credits.c.credit_unit,
                credits.c.idempotency_key,
                credits.c.cost_basis,
            ).where(credits.c.org_id == tx.org_id, credits.c.id.in_(chunk))
        )
        terms.update({row.id: row for row in rows})
    await _append(
        tx,
        [
            {
                "occurred_at": m.occurred_at,
                "account_id": terms[m.credit_id].account_id,
                "kind": m.kind.value,
                "subject": m.credit_id,
                "feature_id": None,
                "unit": terms[m.credit_id].credit_unit,
                "amount": m.amount,
                "held": m.held,
                "event_id": None,
                "invoice_id": m.invoice_id,
                "idempotency_key": terms[m.credit_id].idempotency_key,
                "cost_basis": terms[m.credit_id].cost_basis,
            }
            for m in moves
        ],
        at,
    )


async def append_entry_moves(tx: Tx, moves: Sequence[EntryMove], at: datetime) -> None:
    rows: list[dict[str, Any]] = []
    for m in moves:
        row: dict[str, Any] = {
            "occurred_at": m.occurred_at,
            "account_id": m.account_id,
            "kind": m.kind.value,
            "subject": m.entry_id,
            "feature_id": m.feature_id,
            "unit": m.feature_id,
            "amount": m.amount,
            "held": m.held,
            "event_id": m.event_id,
            "invoice_id": None,
            "idempotency_key": m.idempotency_key,
        }
        if not m.with_cause:
            row["request_id"] = None
            row["actor"] = None
        if m.opens:
            row["cost_basis"] = m.cost_basis
        rows.append(row)
    await _append(tx, rows, at)


@dataclass(frozen=True)
class JournalFilter:
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None  # exclusive
    account_id: str | None = None
    kinds: tuple[str, ...] = ()


def _row_of(row: Any) -> JournalRow:
    return JournalRow(
        cursor=Cursor(row.tx, row.seq),
        occurred_at=row.occurred_at,
        recorded_at=row.recorded_at,
        customer_id=row.customer_id,
        account_id=row.account_id,
        kind=row.kind,
        subject=row.subject,
        feature_id=row.feature_id,
        unit=row.unit,
        amount=row.amount,
        held=row.held,
        balance_after=row.balance_after,
        held_after=row.held_after,
        event_id=row.event_id,
        invoice_id=row.invoice_id,
        idempotency_key=row.idempotency_key,
        request_id=row.request_id,
        actor=row.actor,
        cost_basis=row.cost_basis,
    )


async def read_after(
    tx: Tx, after: Cursor, limit: int, where: JournalFilter = JournalFilter()
) -> list[JournalRow]:
    """Up to `limit` rows after `after` in commit order, only of settled transactions."""
    query = sa.select(journal).where(
        journal.c.org_id == tx.org_id,
        sa.or_(
            journal.c.tx > after.tx,
            sa.and_(journal.c.tx == after.tx, journal.c.seq > after.seq),
        ),
        journal.c.tx < tx.backend.settled_below(),
    )
    if where.occurred_from is not None:
        query = query.where(journal.c.occurred_at >= where.occurred_from)
    if where.occurred_to is not None:
        query = query.where(journal.c.occurred_at < where.occurred_to)
    if where.account_id is not None:
        query = query.where(journal.c.account_id == where.account_id)
    if where.kinds:
        query = query.where(journal.c.kind.in_(where.kinds))
    query = query.order_by(journal.c.tx, journal.c.seq).limit(limit)
    return [_row_of(row) for row in await tx.conn.execute(query)]


async def sums_of(tx: Tx, subjects: Sequence[str]) -> dict[Key, Position]:
    """Σ `amount` and Σ `held` of every subject with one of these ids (what `verify` compares
    with the credits and entries): summed here, exactly, on both databases."""
    found: dict[Key, Position] = {}
    j = journal.c
    for chunk in _chunks(subjects):
        rows = await tx.conn.execute(
            sa.select(j.account_id, j.feature_id, j.subject, j.amount, j.held).where(
                j.org_id == tx.org_id, j.subject.in_(chunk)
            )
        )
        for row in rows:
            key = (row.account_id, row.feature_id, row.subject)
            found[key] = found.get(key, Position()).moved(row.amount, row.held)
    return found
