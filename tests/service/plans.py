"""A metered feature on plans, driven through the use cases: the vocabulary of the plan-cycle
tests (assign, draw, read, move the clock) on either database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from grantledger.domain.cycles import Cycle
from grantledger.domain.entitlements import PlanType, ValueType
from grantledger.domain.errors import LedgerError
from grantledger.domain.plans import PlanFeature, Rollover
from grantledger.service.context import Tenant
from grantledger.service.entitlements import catalog, entitlements, events, schedules
from grantledger.service.entitlements.event_input import EventInput
from grantledger.service.operations.verify import verify_ledger
from grantledger.service.parties import parties
from grantledger.store.entitlements.schedules import ScheduleRecord

FEATURE = "tokens"
SCHEMA = "calls"


@dataclass
class Metered:
    """One account of a fresh organization, a feature its events meter, and plans of it."""

    tenant: Tenant
    account: str = "acc"
    _events: int = 0
    _plans: int = 0

    @classmethod
    async def make(cls, tenant: Tenant) -> Metered:
        await parties.create_customer(
            tenant,
            parties.NewCustomer("cust", "Customer", "c@example.test", {}, None),
            parties.NewAccount("acc", "Account", "USD", "ACTIVE", {}),
        )
        await catalog.create_schema(
            tenant,
            catalog.EventSchemaInput(SCHEMA, None, [{"name": "units"}], [], None, None, None),
        )
        await catalog.create_feature(
            tenant,
            catalog.FeatureInput(
                FEATURE, "Tokens", None, [(SCHEMA, "units")], ValueType.NUMERIC, None
            ),
        )
        return cls(tenant)

    async def plan(
        self,
        included: int | None,
        overage: int | None = None,
        cycle: Cycle = Cycle.MONTHLY,
        grace_days: int | None = None,
        rollover: Rollover | None = None,
    ) -> str:
        self._plans += 1
        plan_id = f"plan-{self._plans}"
        item = PlanFeature(
            FEATURE,
            None,
            Decimal(included) if included is not None else None,
            Decimal(overage) if overage is not None else None,
            None,
            rollover,
        )
        await catalog.create_plan(
            self.tenant,
            catalog.PlanInput(
                plan_id, plan_id, PlanType.BILLING, cycle, [item], grace_period_days=grace_days
            ),
        )
        return plan_id

    async def assign(
        self, plan_id: str, start: date, end: date | None = None, key: str | None = None
    ) -> ScheduleRecord:
        return await schedules.assign_plan(
            self.tenant, self.account, schedules.AssignInput(plan_id, start, end, key)
        )

    async def draw(self, units: str | int, at: datetime | None = None) -> str:
        """ "accepted", or the refusal's class name."""
        self._events += 1
        event = wire_event(f"ev-{self._events}", self.account, str(units), at or self.tenant.now())
        try:
            await events.ingest_entitled(self.tenant, event)
        except LedgerError as refused:
            return type(refused).__name__
        return "accepted"

    async def left(self, as_of: datetime | None = None) -> Decimal:
        """Balance plus remaining overage: what one more event could draw."""
        found = await entitlements.feature_credits(self.tenant, self.account, FEATURE, as_of)
        overage = (found.overage_limit or Decimal(0)) - found.used_overage
        return found.balance + overage

    async def entries(self) -> dict[str, tuple[Decimal, Decimal]]:
        """Entry id → (used, balance) of every entry listed."""
        page = await entitlements.list_entries(self.tenant, self.account, FEATURE, None, 50)
        return {r.entry.id: (r.entry.used, r.entry.balance) for r in page.items}

    async def clean(self) -> None:
        """`grantledger verify` finds every figure in the ledger (and every window in bounds)."""
        _, _, problems = await verify_ledger(self.tenant.ctx, self.tenant.org_id)
        assert problems == [], problems


def day(d: date, days: int = 0, hours: int = 0) -> datetime:
    from grantledger.domain.days import midnight

    return midnight(d) + timedelta(days=days, hours=hours)


def wire_event(event_id: str, account_id: str, units: str, at: datetime) -> EventInput:
    """An event as the API takes it: its payload is the event as received."""
    attributes = [{"name": "units", "value": units}]
    payload = {
        "schemaName": SCHEMA,
        "id": event_id,
        "timestamp": at.isoformat(),
        "accountId": account_id,
        "attributes": attributes,
        "dimensions": {},
    }
    return EventInput(SCHEMA, event_id, at, account_id, [("units", units)], payload)
