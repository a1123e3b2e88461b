"""Putting an account on a BILLING plan: plan schedules, and what a plan change closes."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

from grantledger.domain.entitlements import PlanType, midnight
from grantledger.domain.errors import InvalidInput, NotFound
from grantledger.domain.plans import closing_day
from grantledger.service.context import Tenant
from grantledger.service.credits import lock_account
from grantledger.service.entry_changes import change_entry
from grantledger.store import parties
from grantledger.store.entitlements import entries, plans, schedules
from grantledger.store.entitlements.schedules import ScheduleRecord
from grantledger.store.tx import Tx


async def assign_plan(
    tenant: Tenant, account_id: str, plan_id: str, start: date, end: date | None
) -> ScheduleRecord:
    """Put an account on a BILLING plan; an open plan schedule closes where this one begins."""
    if end is not None and end <= start:
        raise InvalidInput("effectiveUntil must be after effectiveFrom")

    async def work(tx: Tx) -> ScheduleRecord:
        await lock_account(tx, account_id)
        plan = await plans.get_plan(tx, plan_id)
        if plan is None:
            raise NotFound(f"entitlement plan {plan_id} not found")
        if plan.type is not PlanType.BILLING:
            raise InvalidInput(
                f"plan {plan_id} is a PURCHASE plan; buy it with POST /accounts/{{id}}/purchases"
            )
        now = tenant.now()
        closed = await _close_overlapping(tx, account_id, start, end, now)
        # Entries are clipped only once every schedule is closed, so each kind of row is
        # locked once, in one order: account, schedules, entries.
        for schedule_id, close in closed:
            await _clip_schedule_entries(tenant, tx, account_id, schedule_id, midnight(close), now)
        schedule = ScheduleRecord(
            id=tenant.new_id("sch", now),
            account_id=account_id,
            plan_id=plan_id,
            effective_from=start,
            effective_until=end,
            created_at=now,
            updated_at=now,
        )
        await schedules.insert_schedule(tx, schedule)
        return schedule

    return await tenant.run(work)


async def _close_overlapping(
    tx: Tx, account_id: str, start: date, end: date | None, now: datetime
) -> list[tuple[str, date]]:
    """End every BILLING schedule the new one overlaps; (schedule id, closing day) of each."""
    closed: list[tuple[str, date]] = []
    for planned in await schedules.account_schedules(tx, account_id):
        if planned.plan_type is not PlanType.BILLING:
            continue
        old = planned.schedule
        close = closing_day(old.effective_from, old.effective_until, start, end)
        if close is None:
            continue
        await schedules.close_schedule(tx, old.id, close, now)
        closed.append((old.id, close))
    return closed


async def _clip_schedule_entries(
    tenant: Tenant, tx: Tx, account_id: str, schedule_id: str, close: datetime, now: datetime
) -> None:
    """End the closed schedule's materialized entries at the change instant."""
    for record in await entries.account_entries(tx, account_id, lock=True):
        entry = record.entry
        if not entry.id.startswith(schedule_id + "#"):
            continue
        if entry.effective_until is not None and entry.effective_until <= close:
            continue
        # Logged like a PATCH: without it, reads asOf before the change lose the old window.
        changed = replace(entry, effective_until=max(close, entry.effective_from))
        await change_entry(tenant, tx, record, changed, "CLOSE", now)


async def list_schedules(tenant: Tenant, account_id: str) -> list[ScheduleRecord]:
    async def work(tx: Tx) -> list[ScheduleRecord]:
        if await parties.get_account(tx, account_id) is None:
            raise NotFound(f"account {account_id} not found")
        return [p.schedule for p in await schedules.account_schedules(tx, account_id)]

    return await tenant.run(work)
