"""The group-committed gate's statements on PostgreSQL, replacing `store/entitlements/gate.py`'s.

Each has one fixed text whatever the batch's size (arrays bound as parameters:
`= ANY(:account_ids::text[])`, `unnest(...)`) and runs on the transaction's asyncpg connection
(`driver.py`), so it is prepared once per connection and skips SQLAlchemy's per-statement
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
from grantledger.store.notifications.alerts import AlertRecord, alert_of_driver
from grantledger.store.pg import driver
from grantledger.store.pg.reads import ACTIVE_ALERTS_OF, active_alerts_of
from grantledger.store.pg.statement import Statement
from grantledger.store.tx import Tx
from grantledger.store.types import json_text, money_bind, utc

# Both reads of `gate_inputs` in one round trip: the schemas' links (kind 's', in schema then
# feature order, as gate.py's `_SCHEMA_LINKS`) and the accounts found (kind 'a', as its
# `_ACCOUNTS`).
_INPUTS = Statement(f"""
SELECT 's' AS kind, fs.schema_name AS name, fs.feature_id, fs.attribute_name, es.status,
       NULL::boolean AS on_billing_plan
FROM feature_schemas AS fs
LEFT JOIN event_schemas AS es ON es.org_id = fs.org_id AND es.name = fs.schema_name
WHERE fs.org_id = :org_id AND fs.schema_name = ANY(:schema_names::text[])
UNION ALL
SELECT 'a', a.id, NULL, NULL, NULL,
       EXISTS (
           SELECT 1 FROM schedules AS s
           JOIN entitlement_plans AS p ON p.org_id = s.org_id AND p.id = s.plan_id
           WHERE s.org_id = a.org_id AND s.account_id = a.id AND p.type = '{PlanType.BILLING.value}'
       )
FROM accounts AS a
WHERE a.org_id = :org_id AND a.id = ANY(:account_ids::text[])
ORDER BY kind, name, feature_id
""")


async def gate_inputs(
    tx: Tx, schema_names: Sequence[str], account_ids: Sequence[str]
) -> tuple[dict[str, SchemaLinks], dict[str, bool]]:
    links: dict[str, SchemaLinks] = {}
    found: dict[str, bool] = {}
    if not schema_names and not account_ids:
        return links, found
    rows = await driver.fetch(
        tx,
        _INPUTS,
        org_id=tx.org_id,
        schema_names=list(schema_names),
        account_ids=list(account_ids),
    )
    for r in rows:
        if r["kind"] == "a":
            found[r["name"]] = bool(r["on_billing_plan"])
            continue
        item = links.setdefault(r["name"], SchemaLinks([], r["status"] == "ACTIVE"))
        item.links.append((r["feature_id"], r["attribute_name"]))
    return links, found


# Rows are inserted in the array's (sorted) order: `WITH ORDINALITY … ORDER BY` says so.
_CLAIM = Statement("""
INSERT INTO event_ids (org_id, event_id, received_at)
SELECT :org_id, u.event_id, :at
FROM unnest(:event_ids::text[]) WITH ORDINALITY AS u(event_id, n) ORDER BY u.n
ON CONFLICT (org_id, event_id) DO NOTHING
RETURNING event_id
""")
_RECLAIM = Statement("""
UPDATE event_ids SET received_at = :at
WHERE org_id = :org_id AND event_id = ANY(:event_ids::text[]) AND received_at < :stale_before
RETURNING event_id
""")


async def claim_sorted(
    tx: Tx, ordered: list[str], at: datetime, stale_before: datetime
) -> set[str]:
    claimed = {
        r["event_id"]
        for r in await driver.fetch(tx, _CLAIM, org_id=tx.org_id, event_ids=ordered, at=utc(at))
    }
    taken = [i for i in ordered if i not in claimed]
    if taken:
        rows = await driver.fetch(
            tx,
            _RECLAIM,
            org_id=tx.org_id,
            event_ids=taken,
            at=utc(at),
            stale_before=utc(stale_before),
        )
        claimed.update(r["event_id"] for r in rows)
    return claimed


_PRIOR = Statement("""
SELECT id, event_id, accepted, reason, account_id FROM events
WHERE org_id = :org_id AND event_id = ANY(:event_ids::text[])
ORDER BY received_at, id
""")


async def prior_of_sorted(tx: Tx, ids: list[str]) -> dict[str, PriorOutcome]:
    rows = await driver.fetch(tx, _PRIOR, org_id=tx.org_id, event_ids=ids)
    return {
        r["event_id"]: PriorOutcome(bool(r["accepted"]), r["reason"], r["account_id"], r["id"])
        for r in rows
    }


_LOCK_USABLE = Statement("""
SELECT * FROM feature_entries
WHERE org_id = :org_id AND account_id = ANY(:account_ids::text[])
  AND feature_id = ANY(:feature_ids::text[])
  AND ((voided_at IS NULL AND effective_from <= :latest
        AND (effective_until IS NULL OR effective_until > :earliest))
       OR id = ANY(:also::text[]))
ORDER BY account_id, feature_id, id
FOR UPDATE
""")


async def lock_sorted(
    tx: Tx,
    account_ids: list[str],
    feature_ids: list[str],
    earliest: datetime,
    latest: datetime,
    also: list[str],
) -> list[EntryRecord]:
    rows = await driver.fetch(
        tx,
        _LOCK_USABLE,
        org_id=tx.org_id,
        account_ids=account_ids,
        feature_ids=feature_ids,
        earliest=utc(earliest),
        latest=utc(latest),
        also=also,
    )
    return [entry_record_of(r) for r in rows]


# The three writes of `record_batch` as one statement (one round trip): data-modifying CTEs,
# and as its result the alerts of `WatchedBy` (`reads.ACTIVE_ALERTS_OF`; no alert row is
# written here, so reading them with the writes sees what a read after them would). A draw's
# foreign key to its event is checked at the end of the statement, when the events of the
# same statement are in. Money goes as numeric[] (Decimal, exact); the column's
# NUMERIC(28, 10) applies its scale as it does to a single value.
_RECORD_BATCH = Statement(
    """
WITH new_events AS (
    INSERT INTO events (id, org_id, event_id, account_id, schema_name, "timestamp", accepted,
                        reason, payload, received_at, source, shortfall)
    SELECT u.id, :org_id, u.event_id, u.account_id, u.schema_name, u.ts, u.accepted, u.reason,
           u.payload::json, u.received_at, u.source, u.shortfall::json
    FROM unnest(:e_ids::text[], :e_event_ids::text[], :e_account_ids::text[],
                :e_schema_names::text[], :e_timestamps::timestamptz[], :e_accepted::boolean[],
                :e_reasons::text[], :e_payloads::text[], :e_received_at::timestamptz[],
                :e_sources::text[], :e_shortfalls::text[])
         AS u(id, event_id, account_id, schema_name, ts, accepted, reason, payload, received_at,
              source, shortfall)
), new_used AS (
    UPDATE feature_entries AS fe SET used = u.used, updated_at = :at
    FROM unnest(:u_account_ids::text[], :u_feature_ids::text[], :u_entry_ids::text[],
                :u_used::numeric[])
         AS u(account_id, feature_id, entry_id, used)
    WHERE fe.org_id = :org_id AND fe.account_id = u.account_id
      AND fe.feature_id = u.feature_id AND fe.id = u.entry_id
), new_draws AS (
    INSERT INTO draws (event_pk, seq, org_id, account_id, feature_id, entry_id, amount,
                       created_at, occurred_at, plan)
    SELECT u.event_pk, u.seq, :org_id, u.account_id, u.feature_id, u.entry_id, u.amount,
           u.created_at, u.occurred_at, u.plan
    FROM unnest(:d_event_pks::text[], :d_seqs::integer[], :d_account_ids::text[],
                :d_feature_ids::text[], :d_entry_ids::text[], :d_amounts::numeric[],
                :d_created_at::timestamptz[], :d_occurred_at::timestamptz[], :d_plan::boolean[])
         AS u(event_pk, seq, account_id, feature_id, entry_id, amount, created_at, occurred_at,
              plan)
)"""
    + ACTIVE_ALERTS_OF.text
)


async def record_batch(
    tx: Tx,
    received: Sequence[EventRecord],
    used: Sequence[UsedUpdate],
    drawn: Sequence[DrawRecord],
    at: datetime,
    watching: WatchedBy | None = None,
) -> list[AlertRecord] | None:
    if not (received or used or drawn):
        if watching is None:
            return None
        return await active_alerts_of(tx, watching.account_ids, watching.template_ids)
    rows = await driver.fetch(
        tx,
        _RECORD_BATCH,
        org_id=tx.org_id,
        at=utc(at),
        e_ids=[e.id for e in received],
        e_event_ids=[e.event_id for e in received],
        e_account_ids=[e.account_id for e in received],
        e_schema_names=[e.schema_name for e in received],
        e_timestamps=[utc(e.timestamp) for e in received],
        e_accepted=[e.accepted for e in received],
        e_reasons=[e.reason for e in received],
        e_payloads=[json_text(e.payload) for e in received],
        e_received_at=[utc(e.received_at) for e in received],
        e_sources=[e.source for e in received],
        e_shortfalls=[
            json_text(e.shortfall) if e.shortfall is not None else None for e in received
        ],
        u_account_ids=[u.account_id for u in used],
        u_feature_ids=[u.feature_id for u in used],
        u_entry_ids=[u.entry_id for u in used],
        u_used=[money_bind(u.used) for u in used],
        d_event_pks=[d.event_pk for d in drawn],
        d_seqs=[d.seq for d in drawn],
        d_account_ids=[d.account_id for d in drawn],
        d_feature_ids=[d.feature_id for d in drawn],
        d_entry_ids=[d.entry_id for d in drawn],
        d_amounts=[money_bind(d.amount) for d in drawn],
        d_created_at=[utc(d.created_at) for d in drawn],
        d_occurred_at=[utc(d.occurred_at) for d in drawn],
        d_plan=[d.plan for d in drawn],
        template_ids=watching.template_ids if watching else [],
        account_ids=watching.account_ids if watching else [],
    )
    return [alert_of_driver(r) for r in rows] if watching else None
