"""Rows of the entitlements side: schemas, features, plans, schedules, entries, events."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from grantledger.domain.entitlements import Entry, EntrySource, PlanType
from grantledger.store.paging import Page, fetch_page
from grantledger.store.tables import (
    accounts,
    draws,
    entitlement_plans,
    entitlement_values,
    event_ids,
    event_schemas,
    events,
    feature_entries,
    feature_entry_changes,
    feature_schemas,
    features,
    purchases,
    schedules,
)
from grantledger.store.types import Money, UTCDateTime

Row = dict[str, Any]

# The statements of `POST /entitled` are built once, with bound parameters: building a
# SQLAlchemy statement and its cache key on every call cost more CPU than executing it.
_at = sa.bindparam("at", type_=UTCDateTime())


def _one(row: sa.Row[Any] | None) -> Row | None:
    return dict(row._mapping) if row is not None else None


# --- event schemas -------------------------------------------------------------------------


async def insert_schema(conn: AsyncConnection, values: Row) -> None:
    await conn.execute(event_schemas.insert().values(**values))


async def get_schema(conn: AsyncConnection, org_id: str, name: str) -> Row | None:
    query = sa.select(event_schemas).where(
        event_schemas.c.org_id == org_id, event_schemas.c.name == name
    )
    return _one((await conn.execute(query)).first())


async def list_schemas(
    conn: AsyncConnection, org_id: str, status: str | None, after: str | None, limit: int
) -> Page[Row]:
    query = sa.select(event_schemas).where(event_schemas.c.org_id == org_id)
    if status is not None:
        query = query.where(event_schemas.c.status == status)
    page = await fetch_page(conn, query, event_schemas.c.name, after=after, limit=limit)
    return Page([dict(r._mapping) for r in page.items], page.last_key)


async def update_schema(conn: AsyncConnection, org_id: str, name: str, values: Row) -> None:
    await conn.execute(
        event_schemas.update()
        .where(event_schemas.c.org_id == org_id, event_schemas.c.name == name)
        .values(**values)
    )


# --- features ------------------------------------------------------------------------------


async def insert_feature(conn: AsyncConnection, values: Row) -> None:
    await conn.execute(features.insert().values(**values))


async def set_feature_schemas(
    conn: AsyncConnection, org_id: str, feature_id: str, associations: Sequence[tuple[str, str]]
) -> None:
    await conn.execute(
        feature_schemas.delete().where(
            feature_schemas.c.org_id == org_id, feature_schemas.c.feature_id == feature_id
        )
    )
    if associations:
        await conn.execute(
            feature_schemas.insert(),
            [
                {
                    "org_id": org_id,
                    "feature_id": feature_id,
                    "schema_name": schema,
                    "attribute_name": attribute,
                    "position": i,
                }
                for i, (schema, attribute) in enumerate(associations)
            ],
        )


async def _associations(
    conn: AsyncConnection, org_id: str, feature_ids: Sequence[str]
) -> dict[str, list[tuple[str, str]]]:
    found: dict[str, list[tuple[str, str]]] = {f: [] for f in feature_ids}
    if not feature_ids:
        return found
    rows = await conn.execute(
        sa.select(feature_schemas)
        .where(feature_schemas.c.org_id == org_id, feature_schemas.c.feature_id.in_(feature_ids))
        .order_by(feature_schemas.c.feature_id, feature_schemas.c.position)
    )
    for r in rows:
        found[r.feature_id].append((r.schema_name, r.attribute_name))
    return found


async def get_feature(conn: AsyncConnection, org_id: str, feature_id: str) -> Row | None:
    query = sa.select(features).where(features.c.org_id == org_id, features.c.id == feature_id)
    row = _one((await conn.execute(query)).first())
    if row is not None:
        row["associations"] = (await _associations(conn, org_id, [feature_id]))[feature_id]
    return row


async def get_features(
    conn: AsyncConnection, org_id: str, feature_ids: Sequence[str]
) -> dict[str, Row]:
    if not feature_ids:
        return {}
    rows = await conn.execute(
        sa.select(features).where(features.c.org_id == org_id, features.c.id.in_(feature_ids))
    )
    found = {r.id: dict(r._mapping) for r in rows}
    links = await _associations(conn, org_id, list(found))
    for feature_id, row in found.items():
        row["associations"] = links[feature_id]
    return found


async def list_features(
    conn: AsyncConnection, org_id: str, after: str | None, limit: int
) -> Page[Row]:
    query = sa.select(features).where(features.c.org_id == org_id)
    page = await fetch_page(conn, query, features.c.id, after=after, limit=limit)
    rows = [dict(r._mapping) for r in page.items]
    links = await _associations(conn, org_id, [r["id"] for r in rows])
    for row in rows:
        row["associations"] = links[row["id"]]
    return Page(rows, page.last_key)


async def update_feature(conn: AsyncConnection, org_id: str, feature_id: str, values: Row) -> None:
    await conn.execute(
        features.update()
        .where(features.c.org_id == org_id, features.c.id == feature_id)
        .values(**values)
    )


_FEATURES_FOR_EVENT = (
    sa.select(
        feature_schemas.c.feature_id,
        feature_schemas.c.attribute_name,
        sa.exists()
        .where(
            accounts.c.org_id == sa.bindparam("org_id"),
            accounts.c.id == sa.bindparam("account_id"),
        )
        .label("account_found"),
        sa.exists()
        .where(
            schedules.c.org_id == sa.bindparam("org_id"),
            schedules.c.account_id == sa.bindparam("account_id"),
            entitlement_plans.c.org_id == schedules.c.org_id,
            entitlement_plans.c.id == schedules.c.plan_id,
            entitlement_plans.c.type == PlanType.BILLING.value,
        )
        .label("on_billing_plan"),
        sa.exists()
        .where(
            event_schemas.c.org_id == sa.bindparam("org_id"),
            event_schemas.c.name == sa.bindparam("schema_name"),
            event_schemas.c.status == "ACTIVE",
        )
        .label("schema_active"),
    )
    .where(
        feature_schemas.c.org_id == sa.bindparam("org_id"),
        feature_schemas.c.schema_name == sa.bindparam("schema_name"),
    )
    .order_by(feature_schemas.c.feature_id)
)


@functools.cache
def _features_for_event_claiming() -> sa.Select[Any]:
    """`_FEATURES_FOR_EVENT` that also claims the event id (PostgreSQL: a data-modifying CTE).

    PostgreSQL runs the claim to completion whatever the rows; if the request is refused
    afterwards, the transaction's rollback undoes it.
    """
    insert: Any = postgresql.insert(event_ids).values(
        org_id=sa.bindparam("org_id"),
        event_id=sa.bindparam("event_id"),
        received_at=sa.bindparam("received_at", type_=UTCDateTime()),
    )
    claim = (
        insert.on_conflict_do_nothing(index_elements=["org_id", "event_id"])
        .returning(event_ids.c.event_id)
        .cte("claim")
    )
    claimed = sa.select(sa.func.count()).select_from(claim).scalar_subquery().label("claimed")
    return _FEATURES_FOR_EVENT.add_columns(claimed)


@dataclass(frozen=True)
class EventReads:
    links: list[tuple[str, str]]  # (feature id, attribute name) of the schema's features
    account_found: bool  # known only when a feature is found
    on_billing_plan: bool  # the account has a BILLING schedule (whose cycles may need entries)
    schema_active: bool  # known only when a feature is found
    # The event id was inserted as new (True), was taken (False), or was not tried (None).
    claimed: bool | None


async def features_for_event(
    conn: AsyncConnection,
    org_id: str,
    schema_name: str,
    account_id: str,
    claim: tuple[str, datetime] | None = None,
) -> EventReads:
    """(feature id, attribute name) of every feature that events of the schema consume, and
    whether the schema is active, the account exists and it has a billing plan.

    With `claim` (event id, instant) on PostgreSQL, also inserts the id as `claim_event_id`
    does first. One round trip instead of four on the real-time gate, where round trips are
    the cost.
    """
    params: Row = {"org_id": org_id, "schema_name": schema_name, "account_id": account_id}
    query = _FEATURES_FOR_EVENT
    claiming = claim is not None and conn.dialect.name == "postgresql"
    if claiming and claim is not None:
        query = _features_for_event_claiming()
        params["event_id"], params["received_at"] = claim
    rows = (await conn.execute(query, params)).all()
    return EventReads(
        links=[(r.feature_id, r.attribute_name) for r in rows],
        account_found=bool(rows) and bool(rows[0].account_found),
        on_billing_plan=bool(rows) and bool(rows[0].on_billing_plan),
        schema_active=bool(rows) and bool(rows[0].schema_active),
        claimed=bool(rows[0].claimed) if claiming and rows else None,
    )


# --- plans, schedules, purchases -----------------------------------------------------------


async def insert_plan(conn: AsyncConnection, values: Row) -> None:
    await conn.execute(entitlement_plans.insert().values(**values))


async def get_plan(conn: AsyncConnection, org_id: str, plan_id: str) -> Row | None:
    query = sa.select(entitlement_plans).where(
        entitlement_plans.c.org_id == org_id, entitlement_plans.c.id == plan_id
    )
    return _one((await conn.execute(query)).first())


async def list_plans(
    conn: AsyncConnection, org_id: str, after: str | None, limit: int
) -> Page[Row]:
    query = sa.select(entitlement_plans).where(entitlement_plans.c.org_id == org_id)
    page = await fetch_page(conn, query, entitlement_plans.c.id, after=after, limit=limit)
    return Page([dict(r._mapping) for r in page.items], page.last_key)


async def insert_schedule(conn: AsyncConnection, values: Row) -> None:
    await conn.execute(schedules.insert().values(**values))


_ACCOUNT_SCHEDULES = (
    sa.select(
        schedules,
        entitlement_plans.c.type.label("plan_type"),
        entitlement_plans.c.cycle.label("plan_cycle"),
        entitlement_plans.c.features.label("plan_features"),
    )
    .join(
        entitlement_plans,
        sa.and_(
            entitlement_plans.c.org_id == schedules.c.org_id,
            entitlement_plans.c.id == schedules.c.plan_id,
        ),
    )
    .where(
        schedules.c.org_id == sa.bindparam("org_id"),
        schedules.c.account_id == sa.bindparam("account_id"),
    )
    .order_by(schedules.c.effective_from, schedules.c.id)
)


async def account_schedules(conn: AsyncConnection, org_id: str, account_id: str) -> list[Row]:
    """The account's schedules with their plans, oldest first."""
    rows = await conn.execute(_ACCOUNT_SCHEDULES, {"org_id": org_id, "account_id": account_id})
    return [dict(r._mapping) for r in rows]


async def close_schedule(
    conn: AsyncConnection, org_id: str, schedule_id: str, end: Any, at: datetime
) -> None:
    await conn.execute(
        schedules.update()
        .where(schedules.c.org_id == org_id, schedules.c.id == schedule_id)
        .values(effective_until=end, updated_at=at)
    )


async def insert_purchase(conn: AsyncConnection, values: Row) -> None:
    await conn.execute(purchases.insert().values(**values))


async def purchase_by_key(conn: AsyncConnection, org_id: str, key: str) -> Row | None:
    query = sa.select(purchases).where(
        purchases.c.org_id == org_id, purchases.c.idempotency_key == key
    )
    return _one((await conn.execute(query)).first())


async def get_purchase(conn: AsyncConnection, org_id: str, purchase_id: str) -> Row | None:
    query = sa.select(purchases).where(purchases.c.org_id == org_id, purchases.c.id == purchase_id)
    return _one((await conn.execute(query)).first())


# --- entries --------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryRecord:
    entry: Entry
    account_id: str
    feature_id: str
    row_key: str
    idempotency_key: str | None
    request_hash: str | None
    created_at: datetime
    updated_at: datetime


def _entry(row: sa.Row[Any]) -> EntryRecord:
    m = row._mapping
    return EntryRecord(
        entry=Entry(
            id=m["id"],
            source=EntrySource(m["source"]),
            effective_from=m["effective_from"],
            effective_until=m["effective_until"],
            granted=m["granted"],
            used=m["used"],
            voided=m["voided_at"] is not None,
        ),
        account_id=m["account_id"],
        feature_id=m["feature_id"],
        row_key=m["row_key"],
        idempotency_key=m["idempotency_key"],
        request_hash=m["request_hash"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


def entry_values(org_id: str, record: EntryRecord) -> Row:
    e = record.entry
    return {
        "org_id": org_id,
        "account_id": record.account_id,
        "feature_id": record.feature_id,
        "id": e.id,
        "row_key": record.row_key,
        "source": e.source.value,
        "effective_from": e.effective_from,
        "effective_until": e.effective_until,
        "granted": e.granted,
        "used": e.used,
        "voided_at": None,
        "idempotency_key": record.idempotency_key,
        "request_hash": record.request_hash,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


_INSERT_CHUNK = 500


async def insert_entries(
    conn: AsyncConnection, org_id: str, records: Sequence[EntryRecord], *, ignore_existing: bool
) -> None:
    """Insert entries; with `ignore_existing`, entries already there are left as they are."""
    if not records:
        return
    rows = [entry_values(org_id, r) for r in records]
    if not ignore_existing:
        await conn.execute(feature_entries.insert(), rows)
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    # A back-dated schedule can add thousands of cycle entries at once; one multi-row statement
    # of them all would pass the drivers' bound-parameter limits (32767 for asyncpg).
    for start in range(0, len(rows), _INSERT_CHUNK):
        statement = dialect.insert(feature_entries).values(rows[start : start + _INSERT_CHUNK])
        await conn.execute(
            statement.on_conflict_do_nothing(
                index_elements=["org_id", "account_id", "feature_id", "id"]
            )
        )


def _entries_of(org_id: str, account_id: str) -> sa.Select[Any]:
    return sa.select(feature_entries).where(
        feature_entries.c.org_id == org_id, feature_entries.c.account_id == account_id
    )


async def get_entry(
    conn: AsyncConnection,
    org_id: str,
    account_id: str,
    feature_id: str,
    entry_id: str,
    *,
    lock: bool = False,
) -> EntryRecord | None:
    query = _entries_of(org_id, account_id).where(
        feature_entries.c.feature_id == feature_id, feature_entries.c.id == entry_id
    )
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return _entry(row) if row else None


async def entry_by_key(conn: AsyncConnection, org_id: str, key: str) -> EntryRecord | None:
    query = sa.select(feature_entries).where(
        feature_entries.c.org_id == org_id, feature_entries.c.idempotency_key == key
    )
    row = (await conn.execute(query)).first()
    return _entry(row) if row else None


async def account_entries(
    conn: AsyncConnection,
    org_id: str,
    account_id: str,
    feature_ids: Sequence[str] | None = None,
    *,
    effective_at: datetime | None = None,
    lock: bool = False,
) -> list[EntryRecord]:
    """Entries of an account (optionally only those usable at an instant), in lock order."""
    query = _account_entries_query(feature_ids is not None, effective_at is not None, lock)
    params: Row = {"org_id": org_id, "account_id": account_id}
    if feature_ids is not None:
        params["feature_ids"] = list(feature_ids)
    if effective_at is not None:
        params["at"] = effective_at
    return [_entry(r) for r in await conn.execute(query, params)]


@functools.cache
def _account_entries_query(by_feature: bool, usable: bool, lock: bool) -> sa.Select[Any]:
    query = sa.select(feature_entries).where(
        feature_entries.c.org_id == sa.bindparam("org_id"),
        feature_entries.c.account_id == sa.bindparam("account_id"),
    )
    if by_feature:
        query = query.where(
            feature_entries.c.feature_id.in_(sa.bindparam("feature_ids", expanding=True))
        )
    if usable:
        query = query.where(
            feature_entries.c.voided_at.is_(None),
            feature_entries.c.effective_from <= _at,
            sa.or_(
                feature_entries.c.effective_until.is_(None),
                feature_entries.c.effective_until > _at,
            ),
        )
    query = query.order_by(feature_entries.c.feature_id, feature_entries.c.id)
    return query.with_for_update() if lock else query


async def list_entries(
    conn: AsyncConnection,
    org_id: str,
    account_id: str,
    feature_id: str,
    after: str | None,
    limit: int,
) -> Page[EntryRecord]:
    query = _entries_of(org_id, account_id).where(feature_entries.c.feature_id == feature_id)
    page = await fetch_page(
        conn, query, feature_entries.c.row_key, after=after, limit=limit, descending=True
    )
    return Page([_entry(r) for r in page.items], page.last_key)


async def save_entry(
    conn: AsyncConnection, org_id: str, record: EntryRecord, entry: Entry, at: datetime
) -> None:
    values: Row = {
        "granted": entry.granted,
        "used": entry.used,
        "effective_until": entry.effective_until,
        "updated_at": at,
    }
    if entry.voided and not record.entry.voided:
        values["voided_at"] = at
    await conn.execute(
        feature_entries.update()
        .where(
            feature_entries.c.org_id == org_id,
            feature_entries.c.account_id == record.account_id,
            feature_entries.c.feature_id == record.feature_id,
            feature_entries.c.id == entry.id,
        )
        .values(**values)
    )


def _set_used(prefix: str = "") -> sa.Update:
    """Set one entry's `used`, bound as `<prefix>used`, `<prefix>updated_at` and the key as
    `<prefix>k_org_id`, … (SQLAlchemy keeps a column's own name for its SET value)."""
    return (
        feature_entries.update()
        .where(
            feature_entries.c.org_id == sa.bindparam(f"{prefix}k_org_id"),
            feature_entries.c.account_id == sa.bindparam(f"{prefix}k_account_id"),
            feature_entries.c.feature_id == sa.bindparam(f"{prefix}k_feature_id"),
            feature_entries.c.id == sa.bindparam(f"{prefix}k_entry_id"),
        )
        .values(
            used=sa.bindparam(f"{prefix}used", type_=Money()),
            updated_at=sa.bindparam(f"{prefix}updated_at", type_=UTCDateTime()),
        )
    )


def _insert_row(table: sa.Table, prefix: str) -> sa.Insert:
    """Insert one row of `table`, each column bound as `<prefix><column>`."""
    return table.insert().values(
        {c.name: sa.bindparam(f"{prefix}{c.name}", type_=c.type) for c in table.c}
    )


_SET_USED = _set_used()


async def insert_change(conn: AsyncConnection, values: Row) -> None:
    await conn.execute(feature_entry_changes.insert().values(**values))


async def changes_after(
    conn: AsyncConnection, org_id: str, account_id: str, feature_id: str, at: datetime
) -> list[Row]:
    rows = await conn.execute(
        sa.select(feature_entry_changes)
        .where(
            feature_entry_changes.c.org_id == org_id,
            feature_entry_changes.c.account_id == account_id,
            feature_entry_changes.c.feature_id == feature_id,
            feature_entry_changes.c.created_at > at,
        )
        .order_by(feature_entry_changes.c.created_at.desc(), feature_entry_changes.c.id.desc())
    )
    return [dict(r._mapping) for r in rows]


async def draws_until(
    conn: AsyncConnection, org_id: str, account_id: str, feature_id: str, at: datetime
) -> dict[str, Decimal]:
    """Σ draws per entry recorded up to `at` (amounts summed here: SQLite stores text)."""
    rows = await conn.execute(
        sa.select(draws.c.entry_id, draws.c.amount).where(
            draws.c.org_id == org_id,
            draws.c.account_id == account_id,
            draws.c.feature_id == feature_id,
            draws.c.created_at <= at,
        )
    )
    used: dict[str, Decimal] = {}
    for r in rows:
        used[r.entry_id] = used.get(r.entry_id, Decimal(0)) + r.amount
    return used


# --- values ---------------------------------------------------------------------------------


async def set_value(
    conn: AsyncConnection, org_id: str, account_id: str, feature_id: str, value: str, at: datetime
) -> None:
    key = (
        entitlement_values.c.org_id == org_id,
        entitlement_values.c.account_id == account_id,
        entitlement_values.c.feature_id == feature_id,
    )
    updated = await conn.execute(
        entitlement_values.update().where(*key).values(value=value, updated_at=at)
    )
    if updated.rowcount == 0:
        await conn.execute(
            entitlement_values.insert().values(
                org_id=org_id,
                account_id=account_id,
                feature_id=feature_id,
                value=value,
                updated_at=at,
            )
        )


async def account_values(conn: AsyncConnection, org_id: str, account_id: str) -> dict[str, str]:
    rows = await conn.execute(
        sa.select(entitlement_values.c.feature_id, entitlement_values.c.value).where(
            entitlement_values.c.org_id == org_id, entitlement_values.c.account_id == account_id
        )
    )
    return {r.feature_id: r.value for r in rows}


# --- events and draws -----------------------------------------------------------------------


async def claim_event_id(
    conn: AsyncConnection,
    org_id: str,
    event_id: str,
    at: datetime,
    stale_before: datetime,
    inserted: bool | None = None,
) -> bool:
    """Reserve an event id; False when it was seen after `stale_before`.

    Insert first (one round trip for a new id, the usual case; none when `inserted` tells
    what that insert, already made, did). The primary key makes two simultaneous claims of
    one id impossible: PostgreSQL holds the second insert until the first transaction ends,
    and then does nothing if it committed; the id, found taken, can only be reclaimed if it
    is stale, and the row lock lets one reclaimer win.
    """
    if inserted is None:
        result = await conn.execute(
            _claim_statement(conn.dialect.name),
            {"org_id": org_id, "event_id": event_id, "received_at": at},
        )
        inserted = result.rowcount == 1
    if inserted:
        return True
    reclaimed = await conn.execute(
        _RECLAIM_EVENT_ID,
        {"k_org_id": org_id, "k_event_id": event_id, "stale_before": stale_before, "at": at},
    )
    return reclaimed.rowcount == 1


@functools.cache
def _claim_statement(dialect_name: str) -> sa.Insert:
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    insert: Any = dialect.insert(event_ids)
    claim: sa.Insert = insert.on_conflict_do_nothing(index_elements=["org_id", "event_id"])
    return claim


_RECLAIM_EVENT_ID = (
    event_ids.update()
    .where(
        event_ids.c.org_id == sa.bindparam("k_org_id"),
        event_ids.c.event_id == sa.bindparam("k_event_id"),
        event_ids.c.received_at < sa.bindparam("stale_before", type_=UTCDateTime()),
    )
    .values(received_at=_at)
)


_INSERT_EVENT = events.insert()
_INSERT_DRAWS = draws.insert()


async def insert_event(conn: AsyncConnection, values: Row) -> None:
    await conn.execute(_INSERT_EVENT, values)


async def record_accepted(
    conn: AsyncConnection,
    event: Row,
    used: Sequence[tuple[str, str, Decimal]],
    draw_rows: Sequence[Row],
) -> None:
    """Write an accepted event, the new `used` (feature id, entry id, used) of the entries it
    drew from, and its draws.

    The caller holds the entries' row locks (`account_entries(..., lock=True)`), so these
    writes take no lock in a new order. On PostgreSQL they go as one statement (data-modifying
    CTEs, one round trip instead of three); SQLite cannot modify rows inside WITH.
    """
    updates = [
        {
            "k_org_id": event["org_id"],
            "k_account_id": event["account_id"],
            "k_feature_id": feature_id,
            "k_entry_id": entry_id,
            "used": value,
            "updated_at": event["received_at"],
        }
        for feature_id, entry_id, value in used
    ]
    if conn.dialect.name != "postgresql":
        await insert_event(conn, event)
        for update in updates:
            await conn.execute(_SET_USED, update)
        if draw_rows:
            await conn.execute(_INSERT_DRAWS, list(draw_rows))
        return
    params: Row = {f"e_{k}": v for k, v in event.items()}
    for i, update in enumerate(updates):
        params.update((f"u{i}_{k}", v) for k, v in update.items())
    for i, row in enumerate(draw_rows):
        params.update((f"d{i}_{k}", v) for k, v in row.items())
    await conn.execute(_accepted_statement(len(updates), len(draw_rows)), params)


@functools.cache
def _accepted_statement(n_used: int, n_draws: int) -> sa.Executable:
    ctes: list[Any] = [_insert_row(events, "e_").cte("accepted_event")]
    ctes += [_set_used(f"u{i}_").cte(f"used_{i}") for i in range(n_used)]
    # One single-row INSERT per draw: a multi-row VALUES statement is not cacheable by
    # SQLAlchemy and would be compiled again on every event.
    ctes += [_insert_row(draws, f"d{i}_").cte(f"draw_{i}") for i in range(n_draws)]
    # PostgreSQL runs every data-modifying CTE to completion, read or not.
    main: sa.Select[Any] = sa.select(sa.literal_column("1"))
    executable: sa.Executable = main.add_cte(*ctes)
    return executable


async def all_entries(conn: AsyncConnection, after: str | None, limit: int) -> Page[Row]:
    page = await fetch_page(
        conn, sa.select(feature_entries), feature_entries.c.row_key, after=after, limit=limit
    )
    return Page([dict(r._mapping) for r in page.items], page.last_key)


async def draw_sums(
    conn: AsyncConnection, keys: Sequence[tuple[str, str, str, str]]
) -> dict[tuple[str, str, str, str], Decimal]:
    """Σ draws per (org, account, feature, entry) for the given entries."""
    sums: dict[tuple[str, str, str, str], Decimal] = {k: Decimal(0) for k in keys}
    orgs = {k[0] for k in keys}
    accounts = {k[1] for k in keys}
    if not keys:
        return sums
    rows = await conn.execute(
        sa.select(
            draws.c.org_id, draws.c.account_id, draws.c.feature_id, draws.c.entry_id, draws.c.amount
        ).where(draws.c.org_id.in_(orgs), draws.c.account_id.in_(accounts))
    )
    for r in rows:
        key = (r.org_id, r.account_id, r.feature_id, r.entry_id)
        if key in sums:
            sums[key] += r.amount
    return sums
