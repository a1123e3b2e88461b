"""Sums PostgreSQL makes itself (NUMERIC is exact there): one row per entry or credit crosses
the wire instead of every row since an instant. SQLite stores amounts as text, so the portable
versions (`history.draws_after`, `credit_transactions.debits_around`) sum in Python."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa

from grantledger.store.credits.credit_transactions import DebitsAround, debits_of, last_debit
from grantledger.store.entitlements.history import draws_since
from grantledger.store.entitlements.usage import WindowKey, in_window
from grantledger.store.tables import credit_transactions, draws, reversals
from grantledger.store.tx import Tx


async def draws_after(tx: Tx, account_id: str, feature_id: str, at: datetime) -> dict[str, Decimal]:
    total = sa.func.sum(draws.c.amount).label("amount")
    summed = await tx.conn.execute(
        sa.select(draws.c.entry_id, total)
        .where(*draws_since(tx, account_id, feature_id, at))
        .group_by(draws.c.entry_id)
    )
    return {r.entry_id: r.amount for r in summed}


async def debits_around(tx: Tx, credit_id: str, at: datetime) -> DebitsAround:
    debits = debits_of(tx, credit_id)
    total = await tx.conn.execute(
        sa.select(sa.func.sum(credit_transactions.c.amount)).where(
            debits, credit_transactions.c.created_at > at
        )
    )
    return DebitsAround(total.scalar() or Decimal(0), await last_debit(tx, debits, at))


async def plan_drawn(tx: Tx, key: WindowKey, recorded_after: datetime | None = None) -> Decimal:
    found = Decimal(0)
    for table, sign in ((draws, 1), (reversals, -1)):
        later = (table.c.created_at > recorded_after,) if recorded_after is not None else ()
        total = await tx.conn.execute(
            sa.select(sa.func.sum(table.c.amount)).where(*in_window(tx, key, table), *later)
        )
        found += sign * (total.scalar() or Decimal(0))
    return found
