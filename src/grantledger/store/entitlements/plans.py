"""Entitlement plans, their features kept as JSON with amounts as exact decimal text."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from grantledger.domain.cycles import Cycle
from grantledger.domain.entitlements import PlanType
from grantledger.domain.plans import PlanFeature, Rollover
from grantledger.store.paging import Page, fetch_page
from grantledger.store.tables import entitlement_plans
from grantledger.store.tx import Tx


@dataclass(frozen=True)
class PlanRecord:
    id: str
    name: str
    type: PlanType
    cycle: Cycle
    features: tuple[PlanFeature, ...]
    created_at: datetime
    # Days after a cycle closes during which an event stamped in it is still judged.
    grace_period_days: int | None = None


def _amount(text: str | None) -> Decimal | None:
    return Decimal(text) if text is not None else None


def _text(amount: Decimal | None) -> str | None:
    return str(amount) if amount is not None else None


def plan_features_of(stored: list[dict[str, Any]]) -> tuple[PlanFeature, ...]:
    """The features of a plan as its JSON column holds them."""
    return tuple(
        PlanFeature(
            feature_id=f["featureId"],
            value=f.get("value"),
            credits_per_cycle=_amount(f.get("creditsPerCycle")),
            overage_per_cycle=_amount(f.get("overagePerCycle")),
            validity=f.get("validity"),
            rollover=_rollover_of(f.get("rollover")),
        )
        for f in stored
    )


def _rollover_of(stored: dict[str, Any] | None) -> Rollover | None:
    if stored is None:
        return None
    return Rollover(_amount(stored.get("maxUnits")), stored.get("maxCycles"))


def _stored(item: PlanFeature) -> dict[str, Any]:
    return {
        "featureId": item.feature_id,
        "value": item.value,
        "creditsPerCycle": _text(item.credits_per_cycle),
        "overagePerCycle": _text(item.overage_per_cycle),
        "validity": item.validity,
        "rollover": (
            {"maxUnits": _text(item.rollover.max_units), "maxCycles": item.rollover.max_cycles}
            if item.rollover is not None
            else None
        ),
    }


def _record(row: sa.Row[Any]) -> PlanRecord:
    m = row._mapping
    return PlanRecord(
        id=m["id"],
        name=m["name"],
        type=PlanType(m["type"]),
        cycle=Cycle(m["cycle"]),
        features=plan_features_of(m["features"]),
        created_at=m["created_at"],
        grace_period_days=m["grace_period_days"],
    )


async def insert_plan(tx: Tx, plan: PlanRecord) -> None:
    await tx.conn.execute(
        entitlement_plans.insert().values(
            org_id=tx.org_id,
            id=plan.id,
            name=plan.name,
            type=plan.type.value,
            cycle=plan.cycle.value,
            features=[_stored(f) for f in plan.features],
            created_at=plan.created_at,
            grace_period_days=plan.grace_period_days,
        )
    )


async def get_plan(tx: Tx, plan_id: str) -> PlanRecord | None:
    query = sa.select(entitlement_plans).where(
        entitlement_plans.c.org_id == tx.org_id, entitlement_plans.c.id == plan_id
    )
    row = (await tx.conn.execute(query)).first()
    return _record(row) if row is not None else None


async def list_plans(tx: Tx, after: str | None, limit: int) -> Page[PlanRecord]:
    query = sa.select(entitlement_plans).where(entitlement_plans.c.org_id == tx.org_id)
    page = await fetch_page(tx.conn, query, entitlement_plans.c.id, after=after, limit=limit)
    return Page([_record(r) for r in page.items], page.last_key)
