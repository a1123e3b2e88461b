"""The console's reads (search, ledger pages, the event log) and its action log rows.

Every query takes a `Tx`, so it reads one organization's rows and no other. Pages are keyset
pages on time-ordered ids, newest first: a page of an account with 10,000 ledger rows costs
what a page of an account with 50 does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from grantledger.domain.credits import Credit, CreditStatus
from grantledger.store.credits.credit_transactions import TransactionRecord, transaction_of
from grantledger.store.paging import Page, fetch_page
from grantledger.store.tables import (
    accounts,
    console_actions,
    credit_hold_allocations,
    credit_holds,
    credit_transactions,
    credits,
    draws,
    event_corrections,
    events,
    feature_entries,
)
from grantledger.store.tx import Tx

PAGE = 25


@dataclass(frozen=True)
class AccountItem:
    id: str
    name: str
    customer_id: str
    currency: str
    status: str


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search_accounts(tx: Tx, q: str, after: str | None) -> Page[AccountItem]:
    """Accounts whose id or name contains `q` (any case), in id order."""
    query = sa.select(accounts).where(accounts.c.org_id == tx.org_id)
    if q:
        pattern = _like(q)
        query = query.where(
            sa.or_(
                sa.func.lower(accounts.c.id).like(pattern, escape="\\"),
                sa.func.lower(accounts.c.name).like(pattern, escape="\\"),
                sa.func.lower(accounts.c.customer_id).like(pattern, escape="\\"),
            )
        )
    page = await fetch_page(tx.conn, query, accounts.c.id, after=after, limit=PAGE)
    return Page(
        [
            AccountItem(r.id, r.name, r.customer_id, r.invoice_currency, r.status)
            for r in page.items
        ],
        page.last_key,
    )


async def active_credits(tx: Tx, account_ids: Sequence[str]) -> dict[str, list[Credit]]:
    """The ACTIVE credits of each account, as the ledger last left them."""
    found: dict[str, list[Credit]] = {a: [] for a in account_ids}
    if not account_ids:
        return found
    rows = await tx.conn.execute(
        sa.select(credits).where(
            credits.c.org_id == tx.org_id,
            credits.c.account_id.in_(list(account_ids)),
            credits.c.status == CreditStatus.ACTIVE.value,
        )
    )
    for r in rows:
        found[r.account_id].append(
            Credit(
                id=r.id,
                priority=r.priority,
                effective_from=r.effective_from,
                effective_until=r.effective_until,
                created_at=r.created_at,
                applicable_entity_ids=None,
                credit_amount=r.credit_amount,
                status=CreditStatus(r.status),
                consumed=r.consumed_amount,
                held=r.hold_amount,
                expired=r.expired_amount,
                voided=r.voided_amount,
            )
        )
    return found


async def transactions(
    tx: Tx, *, account_id: str | None = None, credit_id: str | None = None, after: str | None
) -> Page[TransactionRecord]:
    """Credit transactions of an account (or of one credit), newest first."""
    query = sa.select(credit_transactions).where(credit_transactions.c.org_id == tx.org_id)
    if credit_id is not None:
        query = query.where(credit_transactions.c.credit_id == credit_id)
    if account_id is not None:
        owned = sa.select(credits.c.id).where(
            credits.c.org_id == tx.org_id, credits.c.account_id == account_id
        )
        query = query.where(credit_transactions.c.credit_id.in_(owned))
    page = await fetch_page(
        tx.conn, query, credit_transactions.c.id, after=after, limit=PAGE, descending=True
    )
    return Page([transaction_of(r) for r in page.items], page.last_key)


async def latest_transactions(
    tx: Tx, credit_ids: Sequence[str], per_credit: int = 5
) -> dict[str, list[TransactionRecord]]:
    """The newest few transactions of each credit, in one query however long each ledger is."""
    found: dict[str, list[TransactionRecord]] = {c: [] for c in credit_ids}
    if not credit_ids:
        return found
    t = credit_transactions
    rank = (
        sa.func.row_number().over(partition_by=t.c.credit_id, order_by=t.c.id.desc()).label("rank")
    )
    ranked = (
        sa.select(t, rank)
        .where(t.c.org_id == tx.org_id, t.c.credit_id.in_(list(credit_ids)))
        .subquery()
    )
    rows = await tx.conn.execute(
        sa.select(ranked)
        .where(ranked.c.rank <= per_credit)
        .order_by(ranked.c.credit_id, ranked.c.id.desc())
    )
    for r in rows:
        found[r.credit_id].append(transaction_of(r))
    return found


@dataclass(frozen=True)
class OpenHold:
    invoice_id: str
    created_at: datetime
    requested: Decimal
    held: Decimal


async def open_holds(tx: Tx, account_id: str, after: str | None) -> Page[OpenHold]:
    """HELD holds, oldest first (the ones waiting longest on top)."""
    query = sa.select(credit_holds).where(
        credit_holds.c.org_id == tx.org_id,
        credit_holds.c.account_id == account_id,
        credit_holds.c.status == "HELD",
    )
    page = await fetch_page(tx.conn, query, credit_holds.c.id, after=after, limit=PAGE)
    held: dict[str, Decimal] = {r.id: Decimal(0) for r in page.items}
    if held:
        allocations = await tx.conn.execute(
            sa.select(credit_hold_allocations.c.hold_id, credit_hold_allocations.c.amount).where(
                credit_hold_allocations.c.hold_id.in_(list(held))
            )
        )
        for a in allocations:
            held[a.hold_id] += a.amount  # summed here: SQLite keeps money as text
    return Page(
        [
            OpenHold(
                r.invoice_id,
                r.created_at,
                sum((Decimal(str(line["amount"])) for line in r.lines), Decimal(0)),
                held[r.id],
            )
            for r in page.items
        ],
        page.last_key,
    )


@dataclass(frozen=True)
class DrawRow:
    feature_id: str
    entry_id: str
    amount: Decimal


@dataclass(frozen=True)
class EventRow:
    pk: str
    event_id: str
    schema_name: str
    timestamp: datetime
    received_at: datetime
    accepted: bool
    reason: str | None
    attributes: list[dict[str, Any]]
    draws: list[DrawRow]
    # When a correction gave its draws back (they stay listed), else None.
    reverted_at: datetime | None = None


async def event_log(
    tx: Tx,
    account_id: str,
    after: str | None,
    *,
    feature_id: str | None = None,
    entry_id: str | None = None,
) -> Page[EventRow]:
    """`/entitled` events of the account, newest first, each with the entries it drew from.

    With `feature_id` (and `entry_id`), only the events that drew from that feature (entry).
    """
    query = sa.select(events).where(events.c.org_id == tx.org_id, events.c.account_id == account_id)
    if feature_id is not None:
        drew = sa.select(draws.c.event_pk).where(
            draws.c.org_id == tx.org_id,
            draws.c.account_id == account_id,
            draws.c.feature_id == feature_id,
        )
        if entry_id is not None:
            drew = drew.where(draws.c.entry_id == entry_id)
        query = query.where(events.c.id.in_(drew))
    page = await fetch_page(tx.conn, query, events.c.id, after=after, limit=PAGE, descending=True)
    by_event: dict[str, list[DrawRow]] = {r.id: [] for r in page.items}
    if by_event:
        rows = await tx.conn.execute(
            sa.select(draws)
            .where(draws.c.org_id == tx.org_id, draws.c.event_pk.in_(list(by_event)))
            .order_by(draws.c.event_pk, draws.c.seq)
        )
        for d in rows:
            by_event[d.event_pk].append(DrawRow(d.feature_id, d.entry_id, d.amount))
    reverted: dict[str, datetime] = {}
    if by_event:
        corrected = await tx.conn.execute(
            sa.select(event_corrections.c.event_pk, event_corrections.c.created_at).where(
                event_corrections.c.org_id == tx.org_id,
                event_corrections.c.event_pk.in_(list(by_event)),
            )
        )
        reverted = {r.event_pk: r.created_at for r in corrected}
    return Page(
        [
            EventRow(
                pk=r.id,
                event_id=r.event_id,
                schema_name=r.schema_name,
                timestamp=r.timestamp,
                received_at=r.received_at,
                accepted=r.accepted,
                reason=r.reason,
                attributes=list((r.payload or {}).get("attributes") or []),
                draws=by_event[r.id],
                reverted_at=reverted.get(r.id),
            )
            for r in page.items
        ],
        page.last_key,
    )


async def account_feature_ids(tx: Tx, account_id: str) -> list[str]:
    """Features the account has entries of."""
    rows = await tx.conn.execute(
        sa.select(feature_entries.c.feature_id)
        .where(feature_entries.c.org_id == tx.org_id, feature_entries.c.account_id == account_id)
        .distinct()
        .order_by(feature_entries.c.feature_id)
    )
    return [r.feature_id for r in rows]


# --- the action log ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionRow:
    id: str
    actor: str
    action: str
    target: str
    detail: dict[str, Any]
    at: datetime


async def record_action(
    tx: Tx,
    action_id: str,
    actor: str,
    action: str,
    account_id: str,
    target: str,
    detail: dict[str, Any],
    at: datetime,
) -> None:
    await tx.conn.execute(
        console_actions.insert().values(
            id=action_id,
            org_id=tx.org_id,
            actor=actor,
            action=action,
            account_id=account_id,
            target=target[:255],
            detail=detail,
            created_at=at,
        )
    )


async def actions(tx: Tx, account_id: str, after: str | None) -> Page[ActionRow]:
    query = sa.select(console_actions).where(
        console_actions.c.org_id == tx.org_id, console_actions.c.account_id == account_id
    )
    page = await fetch_page(
        tx.conn, query, console_actions.c.id, after=after, limit=PAGE, descending=True
    )
    return Page(
        [ActionRow(r.id, r.actor, r.action, r.target, r.detail, r.created_at) for r in page.items],
        page.last_key,
    )
