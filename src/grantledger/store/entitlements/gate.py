"""The statements of `POST /entitled`: what an event's schema meters, the event id claim, and
the writes of an accepted or refused event.

They are built once, with bound parameters: building a SQLAlchemy statement and its cache key
on every call cost more CPU than executing it, and round trips are the gate's cost.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from grantledger.domain.entitlements import PlanType
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

_at = sa.bindparam("at", type_=UTCDateTime())

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
    tx: Tx, schema_name: str, account_id: str, claim: tuple[str, datetime] | None = None
) -> EventReads:
    """(feature id, attribute name) of every feature that events of the schema consume, and
    whether the schema is active, the account exists and it has a billing plan.

    With `claim` (event id, instant) on PostgreSQL, also inserts the id as `claim_event_id`
    does first. One round trip instead of four on the real-time gate.
    """
    params: dict[str, Any] = {
        "org_id": tx.org_id,
        "schema_name": schema_name,
        "account_id": account_id,
    }
    query = _FEATURES_FOR_EVENT
    claiming = claim is not None and tx.conn.dialect.name == "postgresql"
    if claiming and claim is not None:
        query = _features_for_event_claiming()
        params["event_id"], params["received_at"] = claim
    rows = (await tx.conn.execute(query, params)).all()
    return EventReads(
        links=[(r.feature_id, r.attribute_name) for r in rows],
        account_found=bool(rows) and bool(rows[0].account_found),
        on_billing_plan=bool(rows) and bool(rows[0].on_billing_plan),
        schema_active=bool(rows) and bool(rows[0].schema_active),
        claimed=bool(rows[0].claimed) if claiming and rows else None,
    )


async def claim_event_id(
    tx: Tx, event_id: str, at: datetime, stale_before: datetime, inserted: bool | None = None
) -> bool:
    """Reserve an event id; False when it was seen after `stale_before`.

    Insert first (one round trip for a new id, the usual case; none when `inserted` tells
    what that insert, already made, did). The primary key makes two simultaneous claims of
    one id impossible: PostgreSQL holds the second insert until the first transaction ends,
    and then does nothing if it committed; the id, found taken, can only be reclaimed if it
    is stale, and the row lock lets one reclaimer win.
    """
    if inserted is None:
        result = await tx.conn.execute(
            _claim_statement(tx.conn.dialect.name),
            {"org_id": tx.org_id, "event_id": event_id, "received_at": at},
        )
        inserted = result.rowcount == 1
    if inserted:
        return True
    reclaimed = await tx.conn.execute(
        _RECLAIM_EVENT_ID,
        {"k_org_id": tx.org_id, "k_event_id": event_id, "stale_before": stale_before, "at": at},
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


def _event_values(org_id: str, e: EventRecord) -> dict[str, Any]:
    return {
        "id": e.id,
        "org_id": org_id,
        "event_id": e.event_id,
        "account_id": e.account_id,
        "schema_name": e.schema_name,
        "timestamp": e.timestamp,
        "accepted": e.accepted,
        "reason": e.reason,
        "payload": e.payload,
        "received_at": e.received_at,
    }


def _draw_values(org_id: str, d: DrawRecord) -> dict[str, Any]:
    return {
        "event_pk": d.event_pk,
        "seq": d.seq,
        "org_id": org_id,
        "account_id": d.account_id,
        "feature_id": d.feature_id,
        "entry_id": d.entry_id,
        "amount": d.amount,
        "created_at": d.created_at,
    }


_INSERT_EVENT = events.insert()
_INSERT_DRAWS = draws.insert()


async def insert_event(tx: Tx, event: EventRecord) -> None:
    await tx.conn.execute(_INSERT_EVENT, _event_values(tx.org_id, event))


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


async def record_accepted(
    tx: Tx,
    event: EventRecord,
    used: Sequence[tuple[str, str, Decimal]],
    drawn: Sequence[DrawRecord],
) -> None:
    """Write an accepted event, the new `used` (feature id, entry id, used) of the entries it
    drew from, and its draws.

    The caller holds the entries' row locks (`account_entries(..., lock=True)`), so these
    writes take no lock in a new order. On PostgreSQL they go as one statement (data-modifying
    CTEs, one round trip instead of three); SQLite cannot modify rows inside WITH.
    """
    updates = [
        {
            "k_org_id": tx.org_id,
            "k_account_id": event.account_id,
            "k_feature_id": feature_id,
            "k_entry_id": entry_id,
            "used": value,
            "updated_at": event.received_at,
        }
        for feature_id, entry_id, value in used
    ]
    draw_rows = [_draw_values(tx.org_id, d) for d in drawn]
    if tx.conn.dialect.name != "postgresql":
        await insert_event(tx, event)
        for update in updates:
            await tx.conn.execute(_SET_USED, update)
        if draw_rows:
            await tx.conn.execute(_INSERT_DRAWS, draw_rows)
        return
    params: dict[str, Any] = {f"e_{k}": v for k, v in _event_values(tx.org_id, event).items()}
    for i, update in enumerate(updates):
        params.update((f"u{i}_{k}", v) for k, v in update.items())
    for i, row in enumerate(draw_rows):
        params.update((f"d{i}_{k}", v) for k, v in row.items())
    await tx.conn.execute(_accepted_statement(len(updates), len(draw_rows)), params)


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
