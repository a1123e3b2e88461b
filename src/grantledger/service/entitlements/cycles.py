"""Entries of plan cycles: one PRICE_PLAN (and OVERAGE) entry per begun cycle of a BILLING
schedule, made when first needed rather than by a timer."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from grantledger.domain.cycles import (
    CycleWindow,
    ScheduleTerms,
    cut_cycle_ids,
    cycle_containing,
    cycle_entries,
    listing_instants,
    windows_at,
)
from grantledger.domain.entitlements import PlanType
from grantledger.domain.money import ZERO
from grantledger.service.context import Tenant
from grantledger.store.entitlements import entries, schedules
from grantledger.store.entitlements.entries import EntryRecord
from grantledger.store.entitlements.schedules import PlannedSchedule
from grantledger.store.parties import parties
from grantledger.store.tx import Tx


def terms_of(planned: PlannedSchedule) -> ScheduleTerms:
    s = planned.schedule
    return ScheduleTerms(
        s.id,
        s.effective_from,
        s.effective_until,
        s.created_at,
        planned.cycle,
        planned.features,
        s.replaces,
    )


def _cycle_entries(
    tenant: Tenant,
    planned: PlannedSchedule,
    window: CycleWindow,
    feature_ids: Iterable[str] | None,
    now: datetime,
    usage: Mapping[str, Decimal],
) -> list[EntryRecord]:
    """The records of `domain.cycles.cycle_entries` for one cycle of a schedule."""
    wanted = set(feature_ids) if feature_ids is not None else None
    return [
        EntryRecord.new(
            made.entry,
            planned.schedule.account_id,
            made.feature_id,
            tenant.new_id("fce", now),
            now,
            created_at=made.created_at,
        )
        for made in cycle_entries(terms_of(planned), window, wanted, usage)
    ]


def _windows(planned: PlannedSchedule, at: datetime | None, now: datetime) -> list[CycleWindow]:
    return windows_at(terms_of(planned), at, now)


async def ensure_cycle_entries(
    tenant: Tenant,
    tx: Tx,
    account_id: str,
    *,
    feature_ids: Sequence[str] | None = None,
    at: datetime | None = None,
) -> None:
    """Make the entries of every begun cycle exist (only the cycle at `at`, when given).

    Entries are keyed by schedule and cycle start, so concurrent callers insert each once.
    """
    now = tenant.now()
    # Entries are made from the schedules' windows: a plan change (which holds the account row
    # for update while it closes one schedule and opens another) must not commit between this
    # read and the insert, or entries of the old window would outlive the change.
    await parties.share_lock_account(tx, account_id)
    billing = [
        p
        for p in await schedules.account_schedules(tx, account_id)
        if p.plan_type is PlanType.BILLING
    ]
    windows = [(p, w) for p in billing for w in _windows(p, at, now)]
    features = {
        f.feature_id
        for p, _ in windows
        for f in p.features
        if feature_ids is None or f.feature_id in feature_ids
    }
    if not features:
        return
    existing = await entries.account_entries(tx, account_id, sorted(features))
    have = {(r.feature_id, r.entry.id) for r in existing}
    by_id = {p.schedule.id: p for p in billing}
    wanted: list[EntryRecord] = []
    for planned, window in windows:
        usage = _carried_at_start(planned, window, by_id, existing)
        wanted.extend(_cycle_entries(tenant, planned, window, feature_ids, now, usage))
    missing = [w for w in wanted if (w.feature_id, w.entry.id) not in have]
    await entries.insert_entries(tx, _keyed_by_cycle(tenant, missing), ignore_existing=True)


async def ensure_cycle_entries_of(
    tenant: Tenant, tx: Tx, needs: Sequence[tuple[str, datetime, Sequence[str]]]
) -> None:
    """`ensure_cycle_entries(tenant, tx, account, feature_ids=…, at=…)` for each (account,
    instant, features) a gate batch needs, in the same order.

    When the cycles holding the instants already exist — every event after a cycle's first —
    that takes three statements whatever the batch: the accounts share-locked together in id
    order (the order one at a time takes them in), their schedules read together, and the
    entries those cycles make looked up by their ids. Otherwise every need goes through
    `ensure_cycle_entries` in turn, as one at a time (its reads repeated under the locks now
    held), so the entries made and the usage carried into them are the same.
    """
    if not needs:
        return
    now = tenant.now()
    account_ids = sorted({account for account, _, _ in needs})
    await parties.share_lock_accounts(tx, account_ids)
    planned_of = await schedules.schedules_of(tx, account_ids)
    wanted: set[tuple[str, str, str]] = set()
    for account, at, feature_ids in needs:
        for planned in planned_of.get(account, []):
            if planned.plan_type is not PlanType.BILLING:
                continue
            for window in _windows(planned, at, now):
                made = _cycle_entries(tenant, planned, window, feature_ids, now, {})
                wanted.update((account, r.feature_id, r.entry.id) for r in made)
    if not wanted:
        return
    present = await entries.present_entries(tx, account_ids, sorted({i for *_, i in wanted}))
    if wanted <= present:
        return
    for account, at, feature_ids in needs:
        await ensure_cycle_entries(tenant, tx, account, feature_ids=list(feature_ids), at=at)


def _carried_at_start(
    planned: PlannedSchedule,
    window: CycleWindow,
    by_id: Mapping[str, PlannedSchedule],
    existing: Sequence[EntryRecord],
) -> dict[str, Decimal]:
    """Usage carried into the first cycle of a schedule assigned ahead of its start: what the
    schedules it replaced drew in the cycle its start cut short (`domain.cycles.cut_cycle_ids`)."""
    replaced = [terms_of(by_id[i]) for i in planned.schedule.replaces if i in by_id]
    cut = cut_cycle_ids(terms_of(planned), window, replaced)
    usage: dict[str, Decimal] = {}
    for record in existing:
        if record.entry.id in cut:
            usage[record.feature_id] = usage.get(record.feature_id, ZERO) + record.entry.used
    return usage


async def make_carried_cycle(
    tenant: Tenant,
    tx: Tx,
    planned: PlannedSchedule,
    at: datetime,
    usage: Mapping[str, Decimal],
) -> None:
    """Make the cycle of a just-assigned schedule that holds `at`, carrying `usage` into it.

    Called by the plan change itself (which holds the account row), before anything else can
    make that cycle without the carry."""
    window = cycle_containing(
        planned.schedule.effective_from, planned.schedule.effective_until, planned.cycle, at
    )
    if window is None:
        return
    made = _cycle_entries(tenant, planned, window, None, tenant.now(), usage)
    await entries.insert_entries(tx, _keyed_by_cycle(tenant, made), ignore_existing=True)


def _keyed_by_cycle(tenant: Tenant, records: list[EntryRecord]) -> list[EntryRecord]:
    """Row keys (the "newest first" order of entry lists) from each cycle's start
    (`domain.cycles.listing_instants`)."""
    instants = listing_instants([(r.entry.effective_from, r.entry.id) for r in records])
    # Inserted in one order (by cycle, then id), so makers racing on a cycle meet in it.
    keyed = sorted(zip(instants, records, strict=True), key=lambda p: (p[0], p[1].entry.id))
    return [replace(record, row_key=tenant.new_id("fce", at)) for at, record in keyed]
