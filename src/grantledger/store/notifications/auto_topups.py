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


async def delete_topup(tx: Tx, account_id: str) -> bool:
    result = await tx.conn.execute(
        auto_topups.delete().where(
            auto_topups.c.org_id == tx.org_id, auto_topups.c.account_id == account_id
        )
    )
    return bool(result.rowcount == 1)
