"""The statements of `POST /entitled`, a group-committed transaction: every read and write of a
batch of events is one set-wise statement, so a batch of N events costs about as many round
trips as one event did.

Each statement here is `@specialised` (store/backend.py): on PostgreSQL it is replaced by one
fixed text whatever the batch's size, run on the transaction's asyncpg connection
(`store/pg/gate.py`); SQLite runs these SQLAlchemy statements (it prepares in-process,
cheaply). Both give the same records (`gate_records.py`, re-exported here for the callers).

Lock order (docs/design.md): event ids are claimed in sorted order, then accounts shared (for
cycle entries) in sorted order by the caller, then entries locked in (account, feature, id)
order, the order the one-account writers use within their account.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from grantledger.domain.entitlements import PlanType
from grantledger.store.backend import specialised
from grantledger.store.entitlements.entries import EntryRecord, entry_record
from grantledger.store.entitlements.gate_records import (
    DrawRecord,
    EventRecord,
    PriorOutcome,
    SchemaLinks,
    UsedUpdate,
    WatchedBy,
)
from grantledger.store.notifications import alerts
from grantledger.store.notifications.alerts import AlertRecord
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
from grantledger.store.types import Money, UTCDateTime

__all__ = [
    "DrawRecord",
    "EventRecord",
    "PriorOutcome",
    "SchemaLinks",
    "UsedUpdate",
    "WatchedBy",
    "claim_event_ids",
    "gate_inputs",
    "lock_usable_entries",
    "prior_outcomes",
    "record_batch",
]


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


async def _schema_links(tx: Tx, names: Sequence[str]) -> dict[str, SchemaLinks]:
    """The metered features of each named schema that meters any (others are absent)."""
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


async def _accounts_found(tx: Tx, account_ids: Sequence[str]) -> dict[str, bool]:
    """Account id → whether it has a BILLING schedule, for the accounts that exist."""
    rows = await tx.conn.execute(_ACCOUNTS, {"org_id": tx.org_id, "ids": list(account_ids)})
    return {r.id: bool(r.on_billing_plan) for r in rows}


@specialised
async def gate_inputs(
    tx: Tx, schema_names: Sequence[str], account_ids: Sequence[str]
) -> tuple[dict[str, SchemaLinks], dict[str, bool]]:
    """The metered features of each named schema that meters any (others are absent), and
    for the accounts that exist whether each has a BILLING schedule: the first two reads of
    every batch, in one round trip on PostgreSQL."""
    return await _schema_links(tx, schema_names), await _accounts_found(tx, account_ids)


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
    return await claim_sorted(tx, sorted(set(ids)), at, stale_before)


@specialised
async def claim_sorted(
    tx: Tx, ordered: list[str], at: datetime, stale_before: datetime
) -> set[str]:
    """`claim_event_ids` of distinct ids in sorted order."""
    insert: Any = tx.backend.insert(event_ids).values(
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


async def prior_outcomes(tx: Tx, ids: Sequence[str]) -> dict[str, PriorOutcome]:
    """The latest recorded outcome of each event id (the one its 45-day claim stands for)."""
    if not ids:
        return {}
    return await prior_of_sorted(tx, sorted(set(ids)))


@specialised
async def prior_of_sorted(tx: Tx, ids: list[str]) -> dict[str, PriorOutcome]:
    """`prior_outcomes` of distinct ids in sorted order."""
    query = (
        sa.select(
            events.c.id, events.c.event_id, events.c.accepted, events.c.reason, events.c.account_id
        )
        .where(events.c.org_id == tx.org_id, events.c.event_id.in_(ids))
        .order_by(events.c.received_at, events.c.id)
    )
    return {
        r.event_id: PriorOutcome(bool(r.accepted), r.reason, r.account_id, r.id)
        for r in await tx.conn.execute(query)
    }


_at_least = sa.bindparam("latest", type_=UTCDateTime())
_at_most = sa.bindparam("earliest", type_=UTCDateTime())

_LOCK_USABLE = (
    sa.select(feature_entries)
    .where(
        feature_entries.c.org_id == sa.bindparam("org_id"),
        feature_entries.c.account_id.in_(sa.bindparam("account_ids", expanding=True)),
        feature_entries.c.feature_id.in_(sa.bindparam("feature_ids", expanding=True)),
        sa.or_(
            sa.and_(
                feature_entries.c.voided_at.is_(None),
                feature_entries.c.effective_from <= _at_least,
                sa.or_(
                    feature_entries.c.effective_until.is_(None),
                    feature_entries.c.effective_until > _at_most,
                ),
            ),
            feature_entries.c.id.in_(sa.bindparam("also", expanding=True)),
        ),
    )
    .order_by(feature_entries.c.account_id, feature_entries.c.feature_id, feature_entries.c.id)
    .with_for_update()
)


async def lock_usable_entries(
    tx: Tx,
    account_ids: Sequence[str],
    feature_ids: Sequence[str],
    earliest: datetime,
    latest: datetime,
    also: Sequence[str] = (),
) -> list[EntryRecord]:
    """Lock, in (account, feature, id) order, every entry of the accounts' features that is
    usable at some instant between `earliest` and `latest`: a superset of what each event of
    the batch may draw from (the domain rule keeps those effective at the event's instant);
    and the entries named in `also` (ROLLOVER entries a late event's window rolled into)."""
    return await lock_sorted(
        tx,
        sorted(set(account_ids)),
        sorted(set(feature_ids)),
        earliest,
        latest,
        sorted(set(also)),
    )


@specialised
async def lock_sorted(
    tx: Tx,
    account_ids: list[str],
    feature_ids: list[str],
    earliest: datetime,
    latest: datetime,
    also: list[str],
) -> list[EntryRecord]:
    """`lock_usable_entries` of distinct accounts, features and ids in sorted order."""
    params = {
        "org_id": tx.org_id,
        "account_ids": account_ids,
        "feature_ids": feature_ids,
        "earliest": earliest,
        "latest": latest,
        "also": also,
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


@specialised
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

    With `watching`, also the alerts `alerts.active_alerts_of` reads for it, after the writes
    (the notification hook's read: PostgreSQL's one statement returns them, one round trip
    fewer per batch); None without `watching`."""
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
                    "source": e.source,
                    "shortfall": e.shortfall,
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
                    "occurred_at": d.occurred_at,
                    "plan": d.plan,
                }
                for d in drawn
            ],
        )
    if watching is None:
        return None
    return await alerts.active_alerts_of(tx, watching.account_ids, watching.template_ids)
