"""The statements of `POST /entitled`, a group-committed transaction: every read and write of a
batch of events is one set-wise statement, so a batch of N events costs about as many round
trips as one event did.

On PostgreSQL each statement has one fixed text whatever the batch's size (arrays bound as
parameters: `= ANY($2::text[])`, `unnest(...)`) and runs on the transaction's asyncpg
connection (`store/driver.py`), so it is prepared once per connection and skips SQLAlchemy's
per-statement compile and result processing, which cost more server CPU than the database
work. SQLite keeps the SQLAlchemy statements (it prepares in-process, cheaply). Both give the
same records; values are normalised with the column types' own functions (`store/types.py`).

Lock order (docs/design.md): event ids are claimed in sorted order, then accounts shared (for
cycle entries) in sorted order by the caller, then entries locked in (account, feature, id)
order, the order the one-account writers use within their account.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from grantledger.domain.entitlements import Entry, EntrySource, PlanType
from grantledger.store import driver
from grantledger.store.alerts import AlertRecord, alert_of_driver, pg_active_alerts_of
from grantledger.store.entitlements.entries import EntryRecord, entry_record
from grantledger.store.tables import (
    accounts,
    draws,
    entitlement_plans,
    event_ids,
    event_schemas,
    events,
    feature_entries,
    feature_schemas,
    schedules,
)
from grantledger.store.tx import Tx
from grantledger.store.types import Money, UTCDateTime, json_text, money_bind, money_read, utc


@dataclass(frozen=True)
class EventRecord:
    """A received event, accepted or refused (with the reason)."""

    id: str
    event_id: str
    account_id: str
    schema_name: str
    timestamp: datetime
    accepted: bool
    reason: str | None
    payload: dict[str, Any]
    received_at: datetime


@dataclass(frozen=True)
class DrawRecord:
    """One draw of an accepted event from one entry; `seq` orders the event's draws."""

    event_pk: str
    seq: int
    account_id: str
    feature_id: str
    entry_id: str
    amount: Decimal
    created_at: datetime


@dataclass(frozen=True)
class SchemaLinks:
    """What a schema meters: (feature id, attribute name) in feature order, and its status."""

    links: list[tuple[str, str]]
    active: bool


_SCHEMA_LINKS = (
    sa.select(
        feature_schemas.c.schema_name,
        feature_schemas.c.feature_id,
        feature_schemas.c.attribute_name,
        event_schemas.c.status,
    )
    .select_from(
        feature_schemas.outerjoin(
            event_schemas,
            sa.and_(
                event_schemas.c.org_id == feature_schemas.c.org_id,
                event_schemas.c.name == feature_schemas.c.schema_name,
            ),
        )
    )
    .where(
        feature_schemas.c.org_id == sa.bindparam("org_id"),
        feature_schemas.c.schema_name.in_(sa.bindparam("names", expanding=True)),
    )
    .order_by(feature_schemas.c.schema_name, feature_schemas.c.feature_id)
)


async def schema_links(tx: Tx, names: Sequence[str]) -> dict[str, SchemaLinks]:
    """The metered features of each named schema that meters any (others are absent)."""
    if _is_postgres(tx):
        return (await gate_inputs(tx, names, []))[0]
    found: dict[str, SchemaLinks] = {}
    rows = await tx.conn.execute(_SCHEMA_LINKS, {"org_id": tx.org_id, "names": list(names)})
    for r in rows:
        item = found.setdefault(r.schema_name, SchemaLinks([], r.status == "ACTIVE"))
        item.links.append((r.feature_id, r.attribute_name))
    return found


_ACCOUNTS = sa.select(
    accounts.c.id,
    sa.exists()
    .where(
        schedules.c.org_id == accounts.c.org_id,
        schedules.c.account_id == accounts.c.id,
        entitlement_plans.c.org_id == schedules.c.org_id,
        entitlement_plans.c.id == schedules.c.plan_id,
        entitlement_plans.c.type == PlanType.BILLING.value,
    )
    .label("on_billing_plan"),
).where(
    accounts.c.org_id == sa.bindparam("org_id"),
    accounts.c.id.in_(sa.bindparam("ids", expanding=True)),
)


async def accounts_found(tx: Tx, account_ids: Sequence[str]) -> dict[str, bool]:
    """Account id → whether it has a BILLING schedule, for the accounts that exist."""
    if _is_postgres(tx):
        return (await gate_inputs(tx, [], account_ids))[1]
    rows = await tx.conn.execute(_ACCOUNTS, {"org_id": tx.org_id, "ids": list(account_ids)})
    return {r.id: bool(r.on_billing_plan) for r in rows}


# Both reads of `gate_inputs` in one round trip: the schemas' links (kind 's', in schema then
# feature order, as `_SCHEMA_LINKS`) and the accounts found (kind 'a', as `_ACCOUNTS`).
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


async def gate_inputs(
    tx: Tx, schema_names: Sequence[str], account_ids: Sequence[str]
) -> tuple[dict[str, SchemaLinks], dict[str, bool]]:
    """`schema_links(schema_names)` and `accounts_found(account_ids)`, in one round trip on
    PostgreSQL (the first two reads of every batch)."""
    if not _is_postgres(tx):
        return await schema_links(tx, schema_names), await accounts_found(tx, account_ids)
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


async def claim_event_ids(
    tx: Tx, ids: Sequence[str], at: datetime, stale_before: datetime
) -> set[str]:
    """Claim event ids; the ones returned were new or stale (seen before `stale_before`).

    Inserted in sorted order, so two batches sharing ids wait on each other in one order
    (no deadlock); PostgreSQL holds an insert of an id another transaction inserted until
    that one ends, then does nothing if it committed. A taken id is reclaimed only if stale,
    under its row lock, so one reclaimer wins.
    """
    if not ids:
        return set()
    ordered = sorted(set(ids))
    if _is_postgres(tx):
        return await _pg_claim(tx, ordered, utc(at), utc(stale_before))
    dialect = postgresql if tx.conn.dialect.name == "postgresql" else sqlite
    insert: Any = dialect.insert(event_ids).values(
        [{"org_id": tx.org_id, "event_id": i, "received_at": at} for i in ordered]
    )
    statement = insert.on_conflict_do_nothing(index_elements=["org_id", "event_id"]).returning(
        event_ids.c.event_id
    )
    claimed = set((await tx.conn.execute(statement)).scalars())
    taken = [i for i in ordered if i not in claimed]
    if taken:
        reclaim = (
            event_ids.update()
            .where(
                event_ids.c.org_id == tx.org_id,
                event_ids.c.event_id.in_(taken),
                event_ids.c.received_at < stale_before,
            )
            .values(received_at=at)
            .returning(event_ids.c.event_id)
        )
        claimed.update((await tx.conn.execute(reclaim)).scalars())
    return claimed


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


async def _pg_claim(tx: Tx, ordered: list[str], at: datetime, stale_before: datetime) -> set[str]:
    claimed = {r["event_id"] for r in await driver.fetch(tx, _PG_CLAIM, tx.org_id, ordered, at)}
    taken = [i for i in ordered if i not in claimed]
    if taken:
        rows = await driver.fetch(tx, _PG_RECLAIM, tx.org_id, taken, at, stale_before)
        claimed.update(r["event_id"] for r in rows)
    return claimed


@dataclass(frozen=True)
class PriorOutcome:
    """How a received event was decided: accepted, or refused and why."""

    accepted: bool
    reason: str | None


async def prior_outcomes(tx: Tx, ids: Sequence[str]) -> dict[str, PriorOutcome]:
    """The latest recorded outcome of each event id (the one its 45-day claim stands for)."""
    if not ids:
        return {}
    if _is_postgres(tx):
        rows = await driver.fetch(tx, _PG_PRIOR, tx.org_id, sorted(set(ids)))
        return {r["event_id"]: PriorOutcome(bool(r["accepted"]), r["reason"]) for r in rows}
    query = (
        sa.select(events.c.event_id, events.c.accepted, events.c.reason)
        .where(events.c.org_id == tx.org_id, events.c.event_id.in_(sorted(set(ids))))
        .order_by(events.c.received_at, events.c.id)
    )
    return {
        r.event_id: PriorOutcome(bool(r.accepted), r.reason) for r in await tx.conn.execute(query)
    }


_PG_PRIOR = """
SELECT event_id, accepted, reason FROM events
WHERE org_id = $1 AND event_id = ANY($2::text[])
ORDER BY received_at, id
"""

_at_least = sa.bindparam("latest", type_=UTCDateTime())
_at_most = sa.bindparam("earliest", type_=UTCDateTime())

_LOCK_USABLE = (
    sa.select(feature_entries)
    .where(
        feature_entries.c.org_id == sa.bindparam("org_id"),
        feature_entries.c.account_id.in_(sa.bindparam("account_ids", expanding=True)),
        feature_entries.c.feature_id.in_(sa.bindparam("feature_ids", expanding=True)),
        feature_entries.c.voided_at.is_(None),
        feature_entries.c.effective_from <= _at_least,
        sa.or_(
            feature_entries.c.effective_until.is_(None),
            feature_entries.c.effective_until > _at_most,
        ),
    )
    .order_by(feature_entries.c.account_id, feature_entries.c.feature_id, feature_entries.c.id)
    .with_for_update()
)


_PG_LOCK_USABLE = """
SELECT * FROM feature_entries
WHERE org_id = $1 AND account_id = ANY($2::text[]) AND feature_id = ANY($3::text[])
  AND voided_at IS NULL AND effective_from <= $5
  AND (effective_until IS NULL OR effective_until > $4)
ORDER BY account_id, feature_id, id
FOR UPDATE
"""


def _entry(r: Any) -> EntryRecord:
    """`entry_record` of an asyncpg row, its values normalised as the column types do."""
    carried = r["carried"]
    until = r["effective_until"]
    return EntryRecord(
        entry=Entry(
            id=r["id"],
            source=EntrySource(r["source"]),
            effective_from=utc(r["effective_from"]),
            effective_until=None if until is None else utc(until),
            granted=money_read(r["granted"]),
            used=money_read(r["used"]),
            voided=r["voided_at"] is not None,
            carried=Decimal(0) if carried is None else money_read(carried),
        ),
        account_id=r["account_id"],
        feature_id=r["feature_id"],
        row_key=r["row_key"],
        idempotency_key=r["idempotency_key"],
        request_hash=r["request_hash"],
        created_at=utc(r["created_at"]),
        updated_at=utc(r["updated_at"]),
    )


async def lock_usable_entries(
    tx: Tx,
    account_ids: Sequence[str],
    feature_ids: Sequence[str],
    earliest: datetime,
    latest: datetime,
) -> list[EntryRecord]:
    """Lock, in (account, feature, id) order, every entry of the accounts' features that is
    usable at some instant between `earliest` and `latest`: a superset of what each event of
    the batch may draw from (the domain rule keeps those effective at the event's instant)."""
    if _is_postgres(tx):
        rows = await driver.fetch(
            tx,
            _PG_LOCK_USABLE,
            tx.org_id,
            sorted(set(account_ids)),
            sorted(set(feature_ids)),
            utc(earliest),
            utc(latest),
        )
        return [_entry(r) for r in rows]
    params = {
        "org_id": tx.org_id,
        "account_ids": sorted(set(account_ids)),
        "feature_ids": sorted(set(feature_ids)),
        "earliest": earliest,
        "latest": latest,
    }
    return [entry_record(r) for r in await tx.conn.execute(_LOCK_USABLE, params)]


_SET_USED = (
    feature_entries.update()
    .where(
        feature_entries.c.org_id == sa.bindparam("k_org_id"),
        feature_entries.c.account_id == sa.bindparam("k_account_id"),
        feature_entries.c.feature_id == sa.bindparam("k_feature_id"),
        feature_entries.c.id == sa.bindparam("k_entry_id"),
    )
    .values(
        used=sa.bindparam("used", type_=Money()),
        updated_at=sa.bindparam("updated_at", type_=UTCDateTime()),
    )
)


@dataclass(frozen=True)
class UsedUpdate:
    account_id: str
    feature_id: str
    entry_id: str
    used: Decimal


async def record_batch(
    tx: Tx,
    received: Sequence[EventRecord],
    used: Sequence[UsedUpdate],
    drawn: Sequence[DrawRecord],
    at: datetime,
    watching: WatchedBy | None = None,
) -> list[AlertRecord] | None:
    """Write every event of a batch (accepted and refused), the entries' final `used`, and
    the draws: three statements whatever the batch's size (one on PostgreSQL). The caller
    holds the entries' row locks, so the update takes no lock in a new order.

    With `watching`, PostgreSQL also returns, from the same statement, the alerts
    `alerts.active_alerts_of` would read for it (the notification hook's read, one round trip
    fewer per batch); None where they were not read (SQLite, or no `watching`)."""
    if _is_postgres(tx):
        return await _pg_record_batch(tx, received, used, drawn, utc(at), watching)
    if received:
        await tx.conn.execute(
            events.insert(),
            [
                {
                    "id": e.id,
                    "org_id": tx.org_id,
                    "event_id": e.event_id,
                    "account_id": e.account_id,
                    "schema_name": e.schema_name,
                    "timestamp": e.timestamp,
                    "accepted": e.accepted,
                    "reason": e.reason,
                    "payload": e.payload,
                    "received_at": e.received_at,
                }
                for e in received
            ],
        )
    if used:
        await tx.conn.execute(
            _SET_USED,
            [
                {
                    "k_org_id": tx.org_id,
                    "k_account_id": u.account_id,
                    "k_feature_id": u.feature_id,
                    "k_entry_id": u.entry_id,
                    "used": u.used,
                    "updated_at": at,
                }
                for u in used
            ],
        )
    if drawn:
        await tx.conn.execute(
            draws.insert(),
            [
                {
                    "event_pk": d.event_pk,
                    "seq": d.seq,
                    "org_id": tx.org_id,
                    "account_id": d.account_id,
                    "feature_id": d.feature_id,
                    "entry_id": d.entry_id,
                    "amount": d.amount,
                    "created_at": d.created_at,
                }
                for d in drawn
            ],
        )
    return None


@dataclass(frozen=True)
class WatchedBy:
    """Which alerts `record_batch` reads with its writes: the ACTIVE ones of these templates
    watching any of these accounts (or every account)."""

    account_ids: list[str]
    template_ids: list[str]


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


async def _pg_record_batch(
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


def _is_postgres(tx: Tx) -> bool:
    return tx.conn.dialect.name == "postgresql"
