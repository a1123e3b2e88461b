"""The group-committed gate's statements on PostgreSQL (`gate.py` chooses them there).

Each has one fixed text whatever the batch's size (arrays bound as parameters:
`= ANY($2::text[])`, `unnest(...)`) and runs on the transaction's asyncpg connection
(`store/pg/driver.py`), so it is prepared once per connection and skips SQLAlchemy's per-statement
compile and result processing, which cost more server CPU than the database work. They give
the same records as the SQLAlchemy statements; values are normalised with the column types'
own functions (`store/types.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from grantledger.domain.entitlements import PlanType
from grantledger.store.entitlements.entries import EntryRecord, entry_record_of
from grantledger.store.entitlements.gate_records import (
    DrawRecord,
    EventRecord,
    PriorOutcome,
    SchemaLinks,
    UsedUpdate,
    WatchedBy,
)
from grantledger.store.notifications.alerts import AlertRecord, alert_of_driver, pg_active_alerts_of
from grantledger.store.pg import driver
from grantledger.store.tx import Tx
from grantledger.store.types import json_text, money_bind, utc

# Both reads of `gate_inputs` in one round trip: the schemas' links (kind 's', in schema then
# feature order, as gate.py's `_SCHEMA_LINKS`) and the accounts found (kind 'a', as its
# `_ACCOUNTS`).
_PG_INPUTS = f"""
SELECT 's' AS kind, fs.schema_name AS name, fs.feature_id, fs.attribute_name, es.status,
       NULL::boolean AS on_billing_plan
FROM feature_schemas AS fs
LEFT JOIN event_schemas AS es ON es.org_id = fs.org_id AND es.name = fs.schema_name
WHERE fs.org_id = $1 AND fs.schema_name = ANY($2::text[])
UNION ALL
SELECT 'a', a.id, NULL, NULL, NULL,
       EXISTS (
           SELECT 1 FROM schedules AS s
           JOIN entitlement_plans AS p ON p.org_id = s.org_id AND p.id = s.plan_id
           WHERE s.org_id = a.org_id AND s.account_id = a.id AND p.type = '{PlanType.BILLING.value}'
       )
FROM accounts AS a
WHERE a.org_id = $1 AND a.id = ANY($3::text[])
ORDER BY kind, name, feature_id
"""


async def inputs(
    tx: Tx, schema_names: Sequence[str], account_ids: Sequence[str]
) -> tuple[dict[str, SchemaLinks], dict[str, bool]]:
    """The schemas' links and the accounts found (with whether each is on a billing plan), in
    one round trip: the first two reads of every batch."""
    links: dict[str, SchemaLinks] = {}
    found: dict[str, bool] = {}
    if not schema_names and not account_ids:
        return links, found
    rows = await driver.fetch(tx, _PG_INPUTS, tx.org_id, list(schema_names), list(account_ids))
    for r in rows:
        if r["kind"] == "a":
            found[r["name"]] = bool(r["on_billing_plan"])
            continue
        item = links.setdefault(r["name"], SchemaLinks([], r["status"] == "ACTIVE"))
        item.links.append((r["feature_id"], r["attribute_name"]))
    return links, found


# Rows are inserted in the array's (sorted) order: `WITH ORDINALITY … ORDER BY` says so.
_PG_CLAIM = """
INSERT INTO event_ids (org_id, event_id, received_at)
SELECT $1, u.event_id, $3 FROM unnest($2::text[]) WITH ORDINALITY AS u(event_id, n) ORDER BY u.n
ON CONFLICT (org_id, event_id) DO NOTHING
RETURNING event_id
"""
_PG_RECLAIM = """
UPDATE event_ids SET received_at = $3
WHERE org_id = $1 AND event_id = ANY($2::text[]) AND received_at < $4
RETURNING event_id
"""


async def claim(tx: Tx, ordered: list[str], at: datetime, stale_before: datetime) -> set[str]:
    claimed = {r["event_id"] for r in await driver.fetch(tx, _PG_CLAIM, tx.org_id, ordered, at)}
    taken = [i for i in ordered if i not in claimed]
    if taken:
        rows = await driver.fetch(tx, _PG_RECLAIM, tx.org_id, taken, at, stale_before)
        claimed.update(r["event_id"] for r in rows)
    return claimed


_PG_PRIOR = """
SELECT event_id, accepted, reason FROM events
WHERE org_id = $1 AND event_id = ANY($2::text[])
ORDER BY received_at, id
"""


async def prior(tx: Tx, ids: list[str]) -> dict[str, PriorOutcome]:
    rows = await driver.fetch(tx, _PG_PRIOR, tx.org_id, ids)
    return {r["event_id"]: PriorOutcome(bool(r["accepted"]), r["reason"]) for r in rows}


_PG_LOCK_USABLE = """
SELECT * FROM feature_entries
WHERE org_id = $1 AND account_id = ANY($2::text[]) AND feature_id = ANY($3::text[])
  AND voided_at IS NULL AND effective_from <= $5
  AND (effective_until IS NULL OR effective_until > $4)
ORDER BY account_id, feature_id, id
FOR UPDATE
"""


async def lock(
    tx: Tx, account_ids: list[str], feature_ids: list[str], earliest: datetime, latest: datetime
) -> list[EntryRecord]:
    rows = await driver.fetch(
        tx, _PG_LOCK_USABLE, tx.org_id, account_ids, feature_ids, utc(earliest), utc(latest)
    )
    return [entry_record_of(r) for r in rows]


# The three writes of `record_batch` as one statement (one round trip): data-modifying CTEs,
# and as its result the alerts of `WatchedBy` (`alerts.pg_active_alerts_of`; no alert row is
# written here, so reading them with the writes sees what a read after them would). A draw's
# foreign key to its event is checked at the end of the statement, when the events of the
# same statement are in. Money goes as numeric[] (Decimal, exact); the column's
# NUMERIC(28, 10) applies its scale as it does to a single value.
_PG_RECORD_BATCH = """
WITH new_events AS (
    INSERT INTO events (id, org_id, event_id, account_id, schema_name, "timestamp", accepted,
                        reason, payload, received_at)
    SELECT u.id, $1, u.event_id, u.account_id, u.schema_name, u.ts, u.accepted, u.reason,
           u.payload::json, u.received_at
    FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[],
                $7::boolean[], $8::text[], $9::text[], $10::timestamptz[])
         AS u(id, event_id, account_id, schema_name, ts, accepted, reason, payload, received_at)
), new_used AS (
    UPDATE feature_entries AS fe SET used = u.used, updated_at = $11
    FROM unnest($12::text[], $13::text[], $14::text[], $15::numeric[])
         AS u(account_id, feature_id, entry_id, used)
    WHERE fe.org_id = $1 AND fe.account_id = u.account_id AND fe.feature_id = u.feature_id
      AND fe.id = u.entry_id
), new_draws AS (
    INSERT INTO draws (event_pk, seq, org_id, account_id, feature_id, entry_id, amount,
                       created_at)
    SELECT u.event_pk, u.seq, $1, u.account_id, u.feature_id, u.entry_id, u.amount,
           u.created_at
    FROM unnest($16::text[], $17::integer[], $18::text[], $19::text[], $20::text[],
                $21::numeric[], $22::timestamptz[])
         AS u(event_pk, seq, account_id, feature_id, entry_id, amount, created_at)
)""" + pg_active_alerts_of(23, 24)


async def record(
    tx: Tx,
    received: Sequence[EventRecord],
    used: Sequence[UsedUpdate],
    drawn: Sequence[DrawRecord],
    at: datetime,
    watching: WatchedBy | None,
) -> list[AlertRecord] | None:
    if not (received or used or drawn):
        return None
    rows = await driver.fetch(
        tx,
        _PG_RECORD_BATCH,
        tx.org_id,
        [e.id for e in received],
        [e.event_id for e in received],
        [e.account_id for e in received],
        [e.schema_name for e in received],
        [utc(e.timestamp) for e in received],
        [e.accepted for e in received],
        [e.reason for e in received],
        [json_text(e.payload) for e in received],
        [utc(e.received_at) for e in received],
        at,
        [u.account_id for u in used],
        [u.feature_id for u in used],
        [u.entry_id for u in used],
        [money_bind(u.used) for u in used],
        [d.event_pk for d in drawn],
        [d.seq for d in drawn],
        [d.account_id for d in drawn],
        [d.feature_id for d in drawn],
        [d.entry_id for d in drawn],
        [money_bind(d.amount) for d in drawn],
        [utc(d.created_at) for d in drawn],
        watching.template_ids if watching else [],
        watching.account_ids if watching else [],
    )
    return [alert_of_driver(r) for r in rows] if watching else None
