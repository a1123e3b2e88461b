"""Auto top-up settings of an account, and the state that makes each crossing count once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from grantledger.store.tables import auto_topups
from grantledger.store.tx import Tx


@dataclass(frozen=True)
class TopupRecord:
    account_id: str
    threshold_amount: Decimal
    topup_amount: Decimal
    effective_days: int | None
    priority: int
    max_per_month: int
    below: bool
    crossings: int
    month: str
    month_count: int
    created_at: datetime
    updated_at: datetime
    # When DELETE removed the setting; the row, and its counters, stay for the next PUT.
    deleted_at: datetime | None = None
    cost_basis: Decimal | None = None  # of the credits it grants; None: not known

    @property
    def live(self) -> bool:
        return self.deleted_at is None


def _topup(row: sa.Row[Any]) -> TopupRecord:
    m = row._mapping
    return TopupRecord(**{k: m[k] for k in TopupRecord.__dataclass_fields__})


async def get_topup(tx: Tx, account_id: str) -> TopupRecord | None:
    query = sa.select(auto_topups).where(
        auto_topups.c.org_id == tx.org_id, auto_topups.c.account_id == account_id
    )
    row = (await tx.conn.execute(query)).first()
    return _topup(row) if row else None


async def save_topup(tx: Tx, record: TopupRecord, *, new: bool) -> None:
    values = {k: getattr(record, k) for k in TopupRecord.__dataclass_fields__}
    if new:
        await tx.conn.execute(auto_topups.insert().values(org_id=tx.org_id, **values))
        return
    await tx.conn.execute(
        auto_topups.update()
        .where(auto_topups.c.org_id == tx.org_id, auto_topups.c.account_id == record.account_id)
        .values(**values)
    )


async def delete_topup(tx: Tx, account_id: str, at: datetime) -> bool:
    """Mark the live setting deleted (its counters stay); False when there is none."""
    result = await tx.conn.execute(
        auto_topups.update()
        .where(
            auto_topups.c.org_id == tx.org_id,
            auto_topups.c.account_id == account_id,
            auto_topups.c.deleted_at.is_(None),
        )
        .values(deleted_at=at, updated_at=at)
    )
    return bool(result.rowcount == 1)


async def forget_topup(tx: Tx, account_id: str) -> None:
    """Remove the setting's row for good, deleted or not: only when its account goes."""
    await tx.conn.execute(
        auto_topups.delete().where(
            auto_topups.c.org_id == tx.org_id, auto_topups.c.account_id == account_id
        )
    )
