"""Entries of plan cycles: one PRICE_PLAN (and OVERAGE) entry per begun cycle of a BILLING
schedule, made when first needed rather than by a timer."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from itertools import groupby

from grantledger.domain.entitlements import (
    CycleWindow,
    Entry,
    EntrySource,
    PlanType,
    cycle_containing,
    cycles_begun,
    plan_entry_id,
)
from grantledger.domain.ids import EPOCH
from grantledger.service.context import Tenant
from grantledger.store import parties
from grantledger.store.entitlements import entries, schedules
from grantledger.store.entitlements.entries import EntryRecord
from grantledger.store.entitlements.schedules import PlannedSchedule
from grantledger.store.tx import Tx


def _cycle_entries(
    tenant: Tenant,
    planned: PlannedSchedule,
    window: CycleWindow,
    feature_ids: Iterable[str] | None,
    now: datetime,
) -> list[EntryRecord]:
    """The PRICE_PLAN and OVERAGE entries one cycle of a BILLING schedule yields."""
    wanted = set(feature_ids) if feature_ids is not None else None
    schedule = planned.schedule
    created = max(window.begins, schedule.created_at)
    records: list[EntryRecord] = []
    for item in planned.features:
        if wanted is not None and item.feature_id not in wanted:
            continue
        for source, granted in (
            (EntrySource.PRICE_PLAN, item.credits_per_cycle),
            (EntrySource.OVERAGE, item.overage_per_cycle),
        ):
            if granted is None:
                continue
            entry = Entry(
                id=plan_entry_id(schedule.id, window.start, source),
                source=source,
                effective_from=window.begins,
                effective_until=window.ends,
                granted=granted,
            )
            row_key = tenant.new_id("fce", now)
            records.append(
                EntryRecord.new(
                    entry, schedule.account_id, item.feature_id, row_key, now, created_at=created
                )
            )
    return records


def _windows(planned: PlannedSchedule, at: datetime | None, now: datetime) -> list[CycleWindow]:
    """The schedule's begun cycles, or only the one containing `at` if it has begun."""
    s = planned.schedule
    if at is None:
        return cycles_begun(s.effective_from, s.effective_until, planned.cycle, now)
    window = cycle_containing(s.effective_from, s.effective_until, planned.cycle, at)
    return [window] if window is not None and window.begins <= now else []


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
    wanted: list[EntryRecord] = []
    # Entries are made from the schedules' windows: a plan change (which holds the account row
    # for update while it closes one schedule and opens another) must not commit between this
    # read and the insert, or entries of the old window would outlive the change.
    await parties.share_lock_account(tx, account_id)
    for planned in await schedules.account_schedules(tx, account_id):
        if planned.plan_type is not PlanType.BILLING:
            continue
        for window in _windows(planned, at, now):
            wanted.extend(_cycle_entries(tenant, planned, window, feature_ids, now))
    if not wanted:
        return
    existing = {
        (r.feature_id, r.entry.id)
        for r in await entries.account_entries(
            tx, account_id, sorted({w.feature_id for w in wanted})
        )
    }
    missing = [w for w in wanted if (w.feature_id, w.entry.id) not in existing]
    await entries.insert_entries(tx, _keyed_by_cycle(tenant, missing), ignore_existing=True)


def _keyed_by_cycle(tenant: Tenant, records: list[EntryRecord]) -> list[EntryRecord]:
    """Row keys (the "newest first" order of entry lists) from each cycle's start.

    Cycles are created lazily and out of order (the current one by an event, earlier ones by a
    later read), so creation time would list an old cycle above the current one. Within one
    start, a rank of microseconds keeps the order deterministic (PRICE_PLAN above OVERAGE).
    Ids cannot encode instants before 1970: such cycles share that instant, ranked the same way.
    """

    def start(record: EntryRecord) -> datetime:
        return max(record.entry.effective_from, EPOCH)

    keyed: list[EntryRecord] = []
    for begins, group in groupby(sorted(records, key=lambda r: (start(r), r.entry.id)), start):
        for rank, record in enumerate(group):
            at = begins + timedelta(microseconds=rank)
            keyed.append(replace(record, row_key=tenant.new_id("fce", at)))
    return keyed
