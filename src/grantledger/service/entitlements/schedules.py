"""Putting an account on a BILLING plan: plan schedules, and what a plan change closes,
resumes and carries."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime

from grantledger.domain.cycles import check_reach, closing_day, resumes_on
from grantledger.domain.days import midnight
from grantledger.domain.entitlements import PlanType
from grantledger.domain.errors import InvalidInput, NotFound
from grantledger.domain.windows import rollover_of
from grantledger.service.context import Tenant
from grantledger.service.credits.credits import lock_account
from grantledger.service.entitlements.entry_changes import change_entry
from grantledger.service.fingerprint import fingerprint
from grantledger.service.idempotency import replay_of
from grantledger.store.entitlements import entries, plans, schedules, usage
from grantledger.store.entitlements.plans import PlanRecord
from grantledger.store.entitlements.schedules import PlannedSchedule, ScheduleRecord
from grantledger.store.parties import parties
from grantledger.store.tx import Tx


@dataclass(frozen=True)
class AssignInput:
    plan_id: str
    start: date
    end: date | None
    idempotency_key: str | None = None

    def fingerprint(self, account_id: str) -> str:
        return fingerprint(
            {"account": account_id, "planId": self.plan_id, "from": self.start, "until": self.end}
        )


async def assign_plan(tenant: Tenant, account_id: str, spec: AssignInput) -> ScheduleRecord:
    """Put an account on a BILLING plan. A schedule it overlaps ends where it begins (and
    resumes after it, when the new one is bounded and the old one outlasts it, counting its
    cycles as before). Nothing is copied: a change inside a cycle leaves the usage window
    running on across it (`domain/windows.py`), so the new plan gives what it sells minus what
    the window has drawn."""
    if spec.end is not None and spec.end <= spec.start:
        raise InvalidInput("effectiveUntil must be after effectiveFrom")
    digest = spec.fingerprint(account_id)
    check_reach(spec.start, tenant.now(), "effectiveFrom")

    async def work(tx: Tx) -> ScheduleRecord:
        await lock_account(tx, account_id)
        prior = await _prior_by_key(tx, spec, digest)
        if prior is not None:
            return prior
        await _billing_plan(tx, spec.plan_id)  # it exists and is a BILLING plan
        planned = [
            p
            for p in await schedules.account_schedules(tx, account_id)
            if p.plan_type is PlanType.BILLING
        ]
        standing = _same_assignment(planned, spec)
        if standing is not None:
            return standing  # the same body again: a replay, nothing new is granted
        now = tenant.now()
        new_id = tenant.new_id("sch", now)
        closed, resumed = await _close_overlapping(tenant, tx, planned, spec, now)
        # Entries are clipped only once every schedule is closed, so each kind of row is
        # locked once, in one order: account, schedules, entries.
        for schedule_id, close in closed:
            await _clip_schedule_entries(tenant, tx, account_id, schedule_id, midnight(close), now)
        ahead = midnight(spec.start) > now
        schedule = ScheduleRecord(
            id=new_id,
            account_id=account_id,
            plan_id=spec.plan_id,
            effective_from=spec.start,
            effective_until=spec.end,
            created_at=now,
            updated_at=now,
            idempotency_key=spec.idempotency_key,
            request_hash=digest,
            replaces=tuple(i for i, _ in closed) if ahead else (),
        )
        await schedules.insert_schedule(tx, schedule)
        for old, resume in resumed:
            await _resume(tenant, tx, old, resume, schedule, now)
        # The usage windows from the change on may have moved: their figures are made again
        # from the draws when next needed.
        moved = min([spec.start, *(close for _, close in closed)])
        await usage.forget_usage_from(tx, account_id, midnight(moved))
        return schedule

    return await tenant.run(work)


async def _prior_by_key(tx: Tx, spec: AssignInput, digest: str) -> ScheduleRecord | None:
    """The original answer to this idempotency key, if the request repeats it."""
    prior = await replay_of(
        spec.idempotency_key,
        lambda key: schedules.schedule_by_key(tx, key),
        digest,
        lambda p: (
            f"idempotencyKey {p.idempotency_key} was already used for a different plan assignment"
        ),
    )
    if prior is None:
        return None
    # The original answer: the schedule as it was assigned, before any later change closed it.
    return replace(prior, effective_until=spec.end, updated_at=prior.created_at)


async def _billing_plan(tx: Tx, plan_id: str) -> PlanRecord:
    plan = await plans.get_plan(tx, plan_id)
    if plan is None:
        raise NotFound(f"entitlement plan {plan_id} not found")
    if plan.type is not PlanType.BILLING:
        raise InvalidInput(
            f"plan {plan_id} is a PURCHASE plan; buy it with POST /accounts/{{id}}/purchases"
        )
    return plan


def _same_assignment(planned: list[PlannedSchedule], spec: AssignInput) -> ScheduleRecord | None:
    """A schedule that stands exactly as this request would make it (no later change cut it)."""
    for p in planned:
        s = p.schedule
        if (s.plan_id, s.effective_from, s.effective_until) == (spec.plan_id, spec.start, spec.end):
            return s
    return None


async def _close_overlapping(
    tenant: Tenant,
    tx: Tx,
    planned: list[PlannedSchedule],
    spec: AssignInput,
    now: datetime,
) -> tuple[list[tuple[str, date]], list[tuple[PlannedSchedule, date]]]:
    """End every BILLING schedule the new one overlaps: (schedule id, closing day) of each,
    and (old schedule, day it resumes) of those that outlast a bounded new one."""
    closed: list[tuple[str, date]] = []
    resumed: list[tuple[PlannedSchedule, date]] = []
    for p in planned:
        old = p.schedule
        close = closing_day(old.effective_from, old.effective_until, spec.start, spec.end)
        if close is None:
            continue
        resume = resumes_on(old.effective_from, old.effective_until, spec.start, spec.end)
        await schedules.close_schedule(tx, old, close, now, tenant.new_id("schc", now))
        closed.append((old.id, close))
        if resume is not None:
            resumed.append((p, resume))
    return closed, resumed


async def _resume(
    tenant: Tenant,
    tx: Tx,
    old: PlannedSchedule,
    day: date,
    bounded: ScheduleRecord,
    now: datetime,
) -> ScheduleRecord:
    """The old plan again after a bounded new one, from where that one ends: its cycles
    counted from the old schedule's anchor, so its cycle (and the usage in it) goes on."""
    again = ScheduleRecord(
        id=tenant.new_id("sch", now),
        account_id=old.schedule.account_id,
        plan_id=old.schedule.plan_id,
        effective_from=day,
        effective_until=old.schedule.effective_until,
        created_at=now,
        updated_at=now,
        replaces=(bounded.id,) if midnight(day) > now else (),
        anchor=old.schedule.anchor or old.schedule.effective_from,
    )
    await schedules.insert_schedule(tx, again)
    return again


async def _clip_schedule_entries(
    tenant: Tenant, tx: Tx, account_id: str, schedule_id: str, close: datetime, now: datetime
) -> None:
    """End the closed schedule's stored plan entries at the change instant (its ROLLOVER entries
    stay: a plan change keeps rolled-over units)."""
    for record in await entries.account_entries(tx, account_id, lock=True):
        entry = record.entry
        if not entry.id.startswith(schedule_id + "#") or rollover_of(entry.id):
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

    return await tenant.read_behind(work)
