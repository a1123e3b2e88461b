"""Plan schedules: which plan an account is on, from which day until which day."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from grantledger.domain.cycles import Cycle
from grantledger.domain.entitlements import PlanType
from grantledger.domain.plans import PlanFeature
from grantledger.store.backend import specialised
from grantledger.store.entitlements.plans import plan_features_of
from grantledger.store.tables import entitlement_plans, schedule_changes, schedules
from grantledger.store.tx import Tx
from grantledger.store.types import utc


@dataclass(frozen=True)
class ScheduleRecord:
    id: str
    account_id: str
    plan_id: str
    effective_from: date
    effective_until: date | None
    created_at: datetime
    updated_at: datetime
    idempotency_key: str | None = None
    request_hash: str | None = None
    # Schedules a change from a later day replaced (kept for the record).
    replaces: tuple[str, ...] = ()
    # Where its cycles are counted from, when not `effective_from` (a resumed plan).
    anchor: date | None = None


@dataclass(frozen=True)
class PlannedSchedule:
    """A schedule with what its plan says: the type, the cycle and the features."""

    schedule: ScheduleRecord
    plan_type: PlanType
    cycle: Cycle
    features: tuple[PlanFeature, ...]
    grace_period_days: int | None = None


async def insert_schedule(tx: Tx, schedule: ScheduleRecord) -> None:
    await tx.conn.execute(
        schedules.insert().values(
            id=schedule.id,
            org_id=tx.org_id,
            account_id=schedule.account_id,
            plan_id=schedule.plan_id,
            effective_from=schedule.effective_from,
            effective_until=schedule.effective_until,
            created_at=schedule.created_at,
            updated_at=schedule.updated_at,
            idempotency_key=schedule.idempotency_key,
            request_hash=schedule.request_hash,
            replaces=list(schedule.replaces) or None,
            anchor=schedule.anchor,
        )
    )


_WITH_PLANS = (
    sa.select(
        schedules,
        entitlement_plans.c.type.label("plan_type"),
        entitlement_plans.c.cycle.label("plan_cycle"),
        entitlement_plans.c.features.label("plan_features"),
        entitlement_plans.c.grace_period_days.label("plan_grace_days"),
    )
    .join(
        entitlement_plans,
        sa.and_(
            entitlement_plans.c.org_id == schedules.c.org_id,
            entitlement_plans.c.id == schedules.c.plan_id,
        ),
    )
    .where(schedules.c.org_id == sa.bindparam("org_id"))
    .order_by(schedules.c.effective_from, schedules.c.id)
)
_ACCOUNT_SCHEDULES = _WITH_PLANS.where(schedules.c.account_id == sa.bindparam("account_id"))
_SCHEDULES_OF = _WITH_PLANS.where(
    schedules.c.account_id.in_(sa.bindparam("account_ids", expanding=True))
)


def _schedule(row: sa.Row[Any]) -> ScheduleRecord:
    return _schedule_of(row._mapping)


def _schedule_of(m: Mapping[Any, Any]) -> ScheduleRecord:
    """The record of a row's values, from SQLAlchemy or the driver (whose instants are
    normalised as the column type does)."""
    return ScheduleRecord(
        id=m["id"],
        account_id=m["account_id"],
        plan_id=m["plan_id"],
        effective_from=m["effective_from"],
        effective_until=m["effective_until"],
        created_at=utc(m["created_at"]),
        updated_at=utc(m["updated_at"]),
        idempotency_key=m["idempotency_key"],
        request_hash=m["request_hash"],
        replaces=tuple(m["replaces"] or ()),
        anchor=m["anchor"],
    )


def _planned(row: sa.Row[Any]) -> PlannedSchedule:
    return planned_of(row._mapping)


def planned_of(m: Mapping[Any, Any]) -> PlannedSchedule:
    return PlannedSchedule(
        schedule=_schedule_of(m),
        plan_type=PlanType(m["plan_type"]),
        cycle=Cycle(m["plan_cycle"]),
        features=plan_features_of(m["plan_features"]),
        grace_period_days=m["plan_grace_days"],
    )


@specialised
async def schedules_of(tx: Tx, account_ids: Sequence[str]) -> dict[str, list[PlannedSchedule]]:
    """`account_schedules` of several accounts in one read (accounts without any are absent).
    On PostgreSQL a fixed text on the driver (the gate's)."""
    ids = sorted(set(account_ids))
    result = await tx.conn.execute(_SCHEDULES_OF, {"org_id": tx.org_id, "account_ids": ids})
    return by_account(planned_of(r._mapping) for r in result)


def by_account(planned: Iterable[PlannedSchedule]) -> dict[str, list[PlannedSchedule]]:
    found: dict[str, list[PlannedSchedule]] = {}
    for p in planned:
        found.setdefault(p.schedule.account_id, []).append(p)
    return found


async def account_schedules(tx: Tx, account_id: str) -> list[PlannedSchedule]:
    """The account's schedules with their plans, oldest first."""
    rows = await tx.conn.execute(
        _ACCOUNT_SCHEDULES, {"org_id": tx.org_id, "account_id": account_id}
    )
    return [_planned(r) for r in rows]


async def close_schedule(
    tx: Tx, schedule: ScheduleRecord, end: date, at: datetime, change_id: str
) -> None:
    """End a schedule on `end`, the change logged so a read `asOf` before it sees the old end."""
    await tx.conn.execute(
        schedules.update()
        .where(schedules.c.org_id == tx.org_id, schedules.c.id == schedule.id)
        .values(effective_until=end, updated_at=at)
    )
    await tx.conn.execute(
        schedule_changes.insert().values(
            id=change_id,
            org_id=tx.org_id,
            account_id=schedule.account_id,
            schedule_id=schedule.id,
            until_before=schedule.effective_until,
            until_after=end,
            created_at=at,
        )
    )


@dataclass(frozen=True)
class ScheduleChange:
    schedule_id: str
    until_before: date | None
    created_at: datetime


async def changes_after(tx: Tx, account_id: str, at: datetime) -> list[ScheduleChange]:
    """The ends plan changes gave the account's schedules after `at`, oldest first."""
    rows = await tx.conn.execute(
        sa.select(schedule_changes)
        .where(
            schedule_changes.c.org_id == tx.org_id,
            schedule_changes.c.account_id == account_id,
            schedule_changes.c.created_at > at,
        )
        .order_by(schedule_changes.c.created_at, schedule_changes.c.id)
    )
    return [ScheduleChange(r.schedule_id, r.until_before, r.created_at) for r in rows]


async def schedule_by_key(tx: Tx, key: str) -> ScheduleRecord | None:
    query = sa.select(schedules).where(
        schedules.c.org_id == tx.org_id, schedules.c.idempotency_key == key
    )
    row = (await tx.conn.execute(query)).first()
    return _schedule(row) if row is not None else None
