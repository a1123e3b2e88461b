"""Reads of the gate's batch on PostgreSQL, replacing the portable ones of their areas: one
fixed text each whatever the batch (`= ANY(:ids::text[])`), on the transaction's asyncpg
connection (`driver.py`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from grantledger.store.entitlements.schedules import PlannedSchedule, by_account, planned_of
from grantledger.store.notifications.alerts import AlertRecord, alert_of_driver
from grantledger.store.pg import driver
from grantledger.store.pg.statement import Statement
from grantledger.store.tx import Tx
from grantledger.store.types import utc

_SHARE_LOCK_ACCOUNTS = Statement("""
SELECT id FROM accounts WHERE org_id = :org_id AND id = ANY(:ids::text[]) ORDER BY id FOR SHARE
""")


async def share_lock_sorted(tx: Tx, ids: list[str]) -> list[str]:
    rows = await driver.fetch(tx, _SHARE_LOCK_ACCOUNTS, org_id=tx.org_id, ids=ids)
    return [r["id"] for r in rows]


_SCHEDULES_OF = Statement("""
SELECT s.*, p.type AS plan_type, p.cycle AS plan_cycle, p.features AS plan_features,
       p.grace_period_days AS plan_grace_days
FROM schedules AS s JOIN entitlement_plans AS p ON p.org_id = s.org_id AND p.id = s.plan_id
WHERE s.org_id = :org_id AND s.account_id = ANY(:account_ids::text[])
ORDER BY s.effective_from, s.id
""")


async def schedules_of(tx: Tx, account_ids: Sequence[str]) -> dict[str, list[PlannedSchedule]]:
    rows = await driver.fetch(
        tx, _SCHEDULES_OF, org_id=tx.org_id, account_ids=sorted(set(account_ids))
    )
    return by_account(planned_of(r) for r in rows)


_PRESENT = Statement("""
SELECT account_id, feature_id, id FROM feature_entries
WHERE org_id = :org_id AND account_id = ANY(:account_ids::text[]) AND id = ANY(:ids::text[])
""")


async def present_sorted(tx: Tx, accounts: list[str], ids: list[str]) -> set[tuple[str, str, str]]:
    found = await driver.fetch(tx, _PRESENT, org_id=tx.org_id, account_ids=accounts, ids=ids)
    return {(r["account_id"], r["feature_id"], r["id"]) for r in found}


# Two branches, as `alerts._watching`'s; also the tail of the gate's write statement
# (`gate.py`), which reads them with its writes.
ACTIVE_ALERTS_OF = Statement("""
SELECT * FROM (
    SELECT * FROM alerts
    WHERE org_id = :org_id AND status = 'ACTIVE' AND account_id IS NULL
      AND template_id = ANY(:template_ids::text[])
    UNION ALL
    SELECT * FROM alerts
    WHERE org_id = :org_id AND status = 'ACTIVE' AND account_id = ANY(:account_ids::text[])
      AND template_id = ANY(:template_ids::text[])
) AS watching
ORDER BY id COLLATE "C"
""")


async def active_alerts_of(
    tx: Tx, account_ids: Sequence[str], template_ids: Sequence[str]
) -> list[AlertRecord]:
    rows = await driver.fetch(
        tx,
        ACTIVE_ALERTS_OF,
        org_id=tx.org_id,
        template_ids=list(template_ids),
        account_ids=list(account_ids),
    )
    return [alert_of_driver(r) for r in rows]


_LAPSED_ACCOUNTS = Statement("""
SELECT account_id FROM feature_holds
WHERE org_id = :org_id AND account_id = ANY(:account_ids::text[])
  AND status = 'HELD' AND expires_at <= :now
GROUP BY account_id ORDER BY account_id
""")


async def lapsed_accounts(tx: Tx, account_ids: list[str], now: datetime) -> list[str]:
    if not account_ids:
        return []
    rows = await driver.fetch(
        tx, _LAPSED_ACCOUNTS, org_id=tx.org_id, account_ids=account_ids, now=utc(now)
    )
    return [r["account_id"] for r in rows]
