"""A small world of rows made through the use cases themselves, for the service tier and the
store's differential tests: a customer with two accounts, an event schema and a metered
feature, a monthly BILLING plan on one account and a direct grant on the other, events judged
by the gate (accepted, refused, duplicate), credits granted and debited, and alerts watching."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from grantledger.domain.credits import Line
from grantledger.domain.cycles import Cycle
from grantledger.domain.entitlements import EntrySource, PlanType, ValueType
from grantledger.domain.errors import LedgerError
from grantledger.domain.holds import HoldKind
from grantledger.domain.plans import PlanFeature
from grantledger.service.context import Context, Tenant
from grantledger.service.credits import credits, holds
from grantledger.service.entitlements import catalog, events, grants, schedules
from grantledger.service.entitlements.event_input import EventInput
from grantledger.service.notifications import alerts
from grantledger.service.operations import tenants
from grantledger.service.parties import parties
from grantledger.store.database import Database
from grantledger.store.migrate import upgrade

SCHEMA = "calls"
FEATURE = "f1"
PLAN = "monthly"
PLAN_ACCOUNT = "acc-1"
GRANT_ACCOUNT = "acc-2"


class SetClock:
    """A clock the test moves."""

    def __init__(self, now: datetime) -> None:
        self.instant = now

    def now(self) -> datetime:
        return self.instant

    def advance(self, by: timedelta) -> None:
        self.instant += by


def migrated_sqlite(directory: Path) -> str:
    url = f"sqlite:///{directory / 'service.db'}"
    upgrade(url)
    return url


async def new_tenant(ctx: Context, name: str) -> Tenant:
    key = await tenants.create_key(ctx, name)
    org_id = await tenants.authenticate(ctx, key)
    assert org_id is not None
    return ctx.tenant(org_id)


@contextlib.asynccontextmanager
async def context(url: str, clock: SetClock) -> Any:
    ctx = Context(Database(url), clock)
    try:
        yield ctx
    finally:
        await ctx.db.dispose()


def event(event_id: str, account: str, units: str, at: datetime) -> EventInput:
    return EventInput(
        schema_name=SCHEMA,
        id=event_id,
        timestamp=at,
        account_id=account,
        attributes=[("units", units)],
        payload={"id": event_id},
    )


async def judge(tenant: Tenant, e: EventInput) -> str:
    """The gate's answer: "accepted", or the refusal's class name."""
    try:
        await events.ingest_entitled(tenant, e)
    except LedgerError as refused:
        return type(refused).__name__
    return "accepted"


@dataclass(frozen=True)
class World:
    tenant: Tenant
    month_start: date
    event_ids: list[str]
    credit_id: str


async def build(tenant: Tenant) -> World:
    """Every kind of row the gate, the plan cycles, the alerts and `asOf` read."""
    now = tenant.now()
    month_start = now.date().replace(day=1)
    await parties.create_customer(
        tenant,
        parties.NewCustomer("cust-1", "Customer", "c@example.test", {"country": "US"}, None),
        parties.NewAccount(PLAN_ACCOUNT, "Plan account", "USD", "ACTIVE", {}),
    )
    await parties.create_account(
        tenant, "cust-1", parties.NewAccount(GRANT_ACCOUNT, "Grant account", "USD", "ACTIVE", {})
    )
    await catalog.create_schema(
        tenant,
        catalog.EventSchemaInput(SCHEMA, None, [{"name": "units"}], [], None, None, None),
    )
    await catalog.create_feature(
        tenant,
        catalog.FeatureInput(
            FEATURE, "Feature one", None, [(SCHEMA, "units")], ValueType.NUMERIC, None
        ),
    )
    await catalog.create_plan(
        tenant,
        catalog.PlanInput(
            PLAN,
            "Monthly",
            PlanType.BILLING,
            Cycle.MONTHLY,
            [PlanFeature(FEATURE, None, Decimal(100), Decimal(20), None)],
        ),
    )
    await schedules.assign_plan(
        tenant, PLAN_ACCOUNT, schedules.AssignInput(PLAN, month_start, None)
    )
    await grants.grant_entry(
        tenant,
        GRANT_ACCOUNT,
        FEATURE,
        grants.GrantInput(Decimal(50), EntrySource.ENTITLEMENT, None, None, "grant-1"),
    )
    ids = ["ev-1", "ev-2", "ev-3", "ev-4"]
    # Accepted from each account, one refused (more than is left), one duplicate.
    await asyncio.gather(
        judge(tenant, event(ids[0], PLAN_ACCOUNT, "30", now)),
        judge(tenant, event(ids[1], GRANT_ACCOUNT, "20.5", now)),
    )
    await judge(tenant, event(ids[2], GRANT_ACCOUNT, "1000", now))
    await judge(tenant, event(ids[3], PLAN_ACCOUNT, "7", now - timedelta(hours=1)))
    await judge(tenant, event(ids[0], PLAN_ACCOUNT, "30", now))
    [credit] = await credits.grant(
        tenant,
        [credits.GrantRequest(PLAN_ACCOUNT, "Prepaid", month_start, None, Decimal("500"), 1)],
    )
    await holds.place(
        tenant,
        holds.HoldPlacement(
            PLAN_ACCOUNT, "inv-1", (Line("api", None, Decimal("12.34")),), HoldKind.DEBIT
        ),
    )
    for n, account in enumerate((None, PLAN_ACCOUNT, GRANT_ACCOUNT)):
        await alerts.create(
            tenant,
            alerts.AlertInput(
                "feature_balance_below",
                60,
                alerts.AlertStatus.ACTIVE,
                entity_details=(
                    {"account": {"id": account}, "feature": {"id": FEATURE}}
                    if account
                    else {"feature": {"id": FEATURE}}
                ),
                parameters={"threshold": {"amount": str(10 + n)}},
            ),
        )
    return World(tenant, month_start, ids, credit.id)


def at(day: date, hour: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
