"""The usage of each (account, feature, usage window): Σ plan draws dated in the window.

`plan_usage` caches it, one row per window, made from the draws the first time a write needs
it and kept by every write that draws from a plan; a read that finds no row (or a row whose
window the schedules no longer draw) sums the draws instead and writes nothing. `grantledger
verify` recomputes every row from the draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from grantledger.domain.money import ZERO
from grantledger.store.backend import specialised
from grantledger.store.tables import draws, plan_usage, reversals
from grantledger.store.tx import Tx


@dataclass(frozen=True, order=True)
class WindowKey:
    """One usage window of an account's feature: `[begins, ends)`, `ends` None while open."""

    account_id: str
    feature_id: str
    begins: datetime
    ends: datetime | None


def in_window(tx: Tx, key: WindowKey, table: sa.Table = draws) -> tuple[Any, ...]:
    """The plan draws (or their reversals) of the window (a WHERE clause)."""
    ends = (table.c.occurred_at < key.ends,) if key.ends is not None else ()
    return (
        table.c.org_id == tx.org_id,
        table.c.account_id == key.account_id,
        table.c.feature_id == key.feature_id,
        table.c.plan.is_(True),
        table.c.occurred_at >= key.begins,
        *ends,
    )


@specialised
async def plan_drawn(tx: Tx, key: WindowKey, recorded_after: datetime | None = None) -> Decimal:
    """Σ plan draws dated in the window less their reversals (only those recorded after
    `recorded_after`, when given: what `asOf` takes back). Summed here: SQLite stores amounts
    as text (`store/pg/sums.py` sums in PostgreSQL)."""
    found = ZERO
    for table, sign in ((draws, 1), (reversals, -1)):
        later = (table.c.created_at > recorded_after,) if recorded_after is not None else ()
        rows = await tx.conn.execute(
            sa.select(table.c.amount).where(*in_window(tx, key, table), *later)
        )
        found += sign * sum((r.amount for r in rows), ZERO)
    return found


def _row_of(tx: Tx, key: WindowKey) -> tuple[Any, ...]:
    return (
        plan_usage.c.org_id == tx.org_id,
        plan_usage.c.account_id == key.account_id,
        plan_usage.c.feature_id == key.feature_id,
        plan_usage.c.window_start == key.begins,
    )


async def usage_of(tx: Tx, key: WindowKey) -> Decimal:
    """The window's usage, for a read: its row when it stands for this very window, else the
    draws summed (nothing is written)."""
    row = (
        await tx.conn.execute(
            sa.select(plan_usage.c.window_end, plan_usage.c.used).where(*_row_of(tx, key))
        )
    ).first()
    if row is not None and row.window_end == key.ends:
        return Decimal(row.used)
    return await plan_drawn(tx, key)


async def lock_usage(tx: Tx, keys: Sequence[WindowKey], at: datetime) -> dict[WindowKey, Decimal]:
    """The usage of each window, locked (in (account, feature, start) order, after the entries:
    docs/design.md, lock order); a row missing is made from the draws first, and one standing
    for a window the schedules no longer draw (a plan change moved it) is made again."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    found = await locked_rows(tx, wanted)
    missing = [k for k in wanted if (k.account_id, k.feature_id, k.begins) not in found]
    for key in missing:
        insert: Any = tx.backend.insert(plan_usage).values(
            org_id=tx.org_id,
            account_id=key.account_id,
            feature_id=key.feature_id,
            window_start=key.begins,
            window_end=key.ends,
            used=await plan_drawn(tx, key),
            updated_at=at,
        )
        # A concurrent maker's row wins (this one's sum may predate its draws): read it next.
        await tx.conn.execute(insert.on_conflict_do_nothing())
    if missing:
        found.update(await locked_rows(tx, missing))
    figures: dict[WindowKey, Decimal] = {}
    for key in wanted:
        ends, used = found[(key.account_id, key.feature_id, key.begins)]
        if ends != key.ends:
            # Made for a window a plan change has moved since: the draws say again.
            used = await plan_drawn(tx, key)
            await tx.conn.execute(
                plan_usage.update()
                .where(*_row_of(tx, key))
                .values(window_end=key.ends, used=used, updated_at=at)
            )
        figures[key] = used
    return figures


Found = dict[tuple[str, str, datetime], tuple[datetime | None, Decimal]]


@specialised
async def locked_rows(tx: Tx, keys: list[WindowKey]) -> Found:
    """(account, feature, window start) → (window end, used) of the rows of `keys` that exist,
    locked in key order."""
    rows = await tx.conn.execute(
        sa.select(plan_usage)
        .where(
            plan_usage.c.org_id == tx.org_id,
            sa.or_(*(sa.and_(*_row_of(tx, k)[1:]) for k in keys)),
        )
        .order_by(plan_usage.c.account_id, plan_usage.c.feature_id, plan_usage.c.window_start)
        .with_for_update()
    )
    return {
        (r.account_id, r.feature_id, r.window_start): (r.window_end, Decimal(r.used)) for r in rows
    }


@specialised
async def save_usage(tx: Tx, figures: dict[WindowKey, Decimal], at: datetime) -> None:
    """Write the usage of windows locked by `lock_usage` (in the same order)."""
    for key in sorted(figures):
        await tx.conn.execute(
            plan_usage.update().where(*_row_of(tx, key)).values(used=figures[key], updated_at=at)
        )


async def forget_usage_from(tx: Tx, account_id: str, instant: datetime) -> None:
    """Drop the rows of the account's windows still open at `instant` (a plan change there may
    move them); they are made again from the draws when next needed."""
    await tx.conn.execute(
        plan_usage.delete().where(
            plan_usage.c.org_id == tx.org_id,
            plan_usage.c.account_id == account_id,
            sa.or_(plan_usage.c.window_end.is_(None), plan_usage.c.window_end > instant),
        )
    )


@dataclass(frozen=True)
class UsageRow:
    key: WindowKey
    used: Decimal


async def usage_rows(tx: Tx, account_id: str) -> list[UsageRow]:
    rows = await tx.conn.execute(
        sa.select(plan_usage).where(
            plan_usage.c.org_id == tx.org_id, plan_usage.c.account_id == account_id
        )
    )
    return [
        UsageRow(
            WindowKey(r.account_id, r.feature_id, r.window_start, r.window_end), Decimal(r.used)
        )
        for r in rows
    ]


@dataclass(frozen=True)
class PlanDraw:
    feature_id: str
    entry_id: str
    occurred_at: datetime
    amount: Decimal
    recorded_at: datetime


async def plan_draws_of(tx: Tx, account_id: str) -> list[PlanDraw]:
    """Every draw of the account from a plan's allowance or a ROLLOVER entry, and every
    reversal of one (a negative amount, recorded when the correction was), in the order they
    were recorded (what `verify` replays)."""
    found: list[PlanDraw] = []
    for table, sign in ((draws, 1), (reversals, -1)):
        rows = await tx.conn.execute(
            sa.select(
                table.c.feature_id,
                table.c.entry_id,
                table.c.occurred_at,
                table.c.amount,
                table.c.created_at,
            ).where(
                table.c.org_id == tx.org_id,
                table.c.account_id == account_id,
                sa.or_(table.c.plan.is_(True), table.c.entry_id.like("rollover#%")),
            )
        )
        found += [
            PlanDraw(r.feature_id, r.entry_id, r.occurred_at, sign * r.amount, r.created_at)
            for r in rows
        ]
    # At one instant reversals first: a draw recorded with a correction may have needed it.
    return sorted(found, key=lambda d: (d.recorded_at, d.amount >= 0))
