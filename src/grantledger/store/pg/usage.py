"""The gate's usage-figure statements on PostgreSQL, replacing `store/entitlements/usage.py`'s:
one fixed text each whatever the batch (arrays of keys, `unnest`), on the transaction's asyncpg
connection (`driver.py`)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from grantledger.store.entitlements.usage import Found, WindowKey
from grantledger.store.pg import driver
from grantledger.store.pg.statement import Statement
from grantledger.store.tx import Tx
from grantledger.store.types import money_bind, money_read, utc

_LOCKED_ROWS = Statement("""
SELECT pu.account_id, pu.feature_id, pu.window_start, pu.window_end, pu.used
FROM plan_usage AS pu
JOIN unnest(:account_ids::text[], :feature_ids::text[], :starts::timestamptz[])
     AS k(account_id, feature_id, window_start)
  ON pu.account_id = k.account_id AND pu.feature_id = k.feature_id
     AND pu.window_start = k.window_start
WHERE pu.org_id = :org_id
ORDER BY pu.account_id, pu.feature_id, pu.window_start
FOR UPDATE OF pu
""")


async def locked_rows(tx: Tx, keys: list[WindowKey]) -> Found:
    rows = await driver.fetch(
        tx,
        _LOCKED_ROWS,
        org_id=tx.org_id,
        account_ids=[k.account_id for k in keys],
        feature_ids=[k.feature_id for k in keys],
        starts=[utc(k.begins) for k in keys],
    )
    return {
        (r["account_id"], r["feature_id"], utc(r["window_start"])): (
            utc(r["window_end"]) if r["window_end"] is not None else None,
            money_read(r["used"]),
        )
        for r in rows
    }


_SAVE = Statement("""
UPDATE plan_usage AS pu SET used = u.used, updated_at = :at
FROM unnest(:account_ids::text[], :feature_ids::text[], :starts::timestamptz[],
            :used::numeric[]) AS u(account_id, feature_id, window_start, used)
WHERE pu.org_id = :org_id AND pu.account_id = u.account_id AND pu.feature_id = u.feature_id
  AND pu.window_start = u.window_start
""")


async def save_usage(tx: Tx, figures: dict[WindowKey, Decimal], at: datetime) -> None:
    if not figures:
        return
    keys = sorted(figures)
    await driver.execute(
        tx,
        _SAVE,
        org_id=tx.org_id,
        at=utc(at),
        account_ids=[k.account_id for k in keys],
        feature_ids=[k.feature_id for k in keys],
        starts=[utc(k.begins) for k in keys],
        used=[money_bind(figures[k]) for k in keys],
    )
