"""What an account's BILLING plans give, read without writing anything.

A plan cycle's entries are made (stored) only by a write that needs them: the gate, a PATCH
or a void. A read shows the entries stored and, for a begun cycle not made yet, the entries it
would make; every plan entry as its usage window leaves it (`domain/windows.py`), from the
window's usage figure. So a read never creates or changes history, and `asOf` answers the
same whatever was read before.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal

from grantledger.domain.entitlements import Entry, PlanType
from grantledger.domain.windows import (
    PlanSchedule,
    Window,
    begun_cycles,
    cycle_entries,
    group_of,
    in_force,
    plan_row_key,
    plan_views,
    rollover_made,
    rollover_of,
    rollover_origin,
    rollover_source_of,
    rollover_view,
    rollovers_at,
    schedule_cycle,
    spent_rollover,
    usage_window,
)
from grantledger.store.entitlements import (
    entries,
    event_log,
    feature_holds,
    history,
    schedules,
    usage,
)
from grantledger.store.entitlements.entries import EntryRecord
from grantledger.store.entitlements.schedules import PlannedSchedule, ScheduleChange
from grantledger.store.entitlements.usage import WindowKey
from grantledger.store.tx import Tx

_JUST_BEFORE = timedelta(microseconds=1)


def plan_schedule(planned: PlannedSchedule) -> PlanSchedule:
    s = planned.schedule
    return PlanSchedule(
        id=s.id,
        effective_from=s.effective_from,
        effective_until=s.effective_until,
        created_at=s.created_at,
        cycle=planned.cycle,
        features=planned.features,
        anchor=s.anchor,
        grace_days=planned.grace_period_days,
    )


def billing(planned: Iterable[PlannedSchedule]) -> list[PlanSchedule]:
    return [plan_schedule(p) for p in planned if p.plan_type is PlanType.BILLING]


async def billing_schedules(
    tx: Tx, account_id: str, as_of: datetime | None = None
) -> list[PlanSchedule]:
    """The account's BILLING schedules; with `as_of`, as they stood then (those made later
    left out, the ends plan changes gave since undone)."""
    found = billing(await schedules.account_schedules(tx, account_id))
    if as_of is None:
        return found
    return as_they_stood(found, await schedules.changes_after(tx, account_id, as_of), as_of)


def as_they_stood(
    found: Sequence[PlanSchedule], changes: Sequence[ScheduleChange], at: datetime
) -> list[PlanSchedule]:
    """The schedules as they stood at `at`: those made later left out, and the ends the
    `changes` made after it undone (the earliest change's `until_before` is the end then)."""
    stood = {s.id: s for s in found if s.created_at <= at}
    for change in sorted(changes, key=lambda c: c.created_at, reverse=True):
        if change.created_at > at and change.schedule_id in stood:
            stood[change.schedule_id] = replace(
                stood[change.schedule_id], effective_until=change.until_before
            )
    return list(stood.values())


def window_key(
    schedules_: Sequence[PlanSchedule], account_id: str, feature_id: str, entry: Entry
) -> WindowKey | None:
    """The usage window a plan entry's usage counts in (None: no schedule holds it now)."""
    window = usage_window(schedules_, entry.effective_from)
    if window is None:
        return None
    return WindowKey(account_id, feature_id, window.begins, window.ends)


def key_of(account_id: str, feature_id: str, window: Window) -> WindowKey:
    return WindowKey(account_id, feature_id, window.begins, window.ends)


def cycle_at(schedules_: Sequence[PlanSchedule], feature_id: str, at: datetime) -> list[Entry]:
    """The plan entries of the feature the cycle in force at `at` gives (stored or not)."""
    s = in_force(schedules_, at)
    cycle = schedule_cycle(s, at) if s is not None else None
    if s is None or cycle is None:
        return []
    return [e for _, e in cycle_entries(s, cycle, [feature_id])]


def begun(schedules_: Sequence[PlanSchedule], feature_id: str, now: datetime) -> list[Entry]:
    """The plan entries of the feature every begun cycle gives (the latest
    `MAX_CYCLES_PER_READ` of each schedule), stored or not."""
    return [
        e
        for s in schedules_
        for cycle in begun_cycles(s, now)
        for _, e in cycle_entries(s, cycle, [feature_id])
    ]


async def unmade(tx: Tx, account_id: str, candidates: Sequence[Entry]) -> list[Entry]:
    """Those of `candidates` (plan entries of one feature) not stored yet."""
    if not candidates:
        return []
    present = await entries.present_entries(tx, [account_id], [e.id for e in candidates])
    stored = {entry_id for _, _, entry_id in present}
    return [e for e in candidates if e.id not in stored]


def unmade_record(
    org_id: str, account_id: str, feature_id: str, entry: Entry, now: datetime
) -> EntryRecord:
    """How a plan entry not stored yet is listed: as it will be when made."""
    return EntryRecord.new(
        entry,
        account_id,
        feature_id,
        plan_row_key(f"{org_id}/{account_id}/{feature_id}", entry),
        now,
        created_at=entry.effective_from,
    )


@dataclass(frozen=True)
class Lapsed:
    """The units of an account's holds past their limit that no write has given back yet: a
    read gives them back itself, so a hold stops counting at its limit on every read."""

    by_entry: dict[tuple[str, str], Decimal] = field(default_factory=dict)  # (feature, entry)
    by_window: dict[tuple[str, datetime], Decimal] = field(default_factory=dict)  # plan draws

    def entries(self, feature_id: str, entries_: Sequence[Entry]) -> list[Entry]:
        if not self.by_entry:
            return list(entries_)
        return [
            replace(e, used=e.used - self.by_entry.get((feature_id, e.id), Decimal(0)))
            for e in entries_
        ]


async def lapsed_holds(
    tx: Tx, schedules_: Sequence[PlanSchedule], account_id: str, at: datetime
) -> Lapsed:
    lapsed = Lapsed()
    for d in await feature_holds.lapsed_draws(tx, account_id, at):
        key = (d.feature_id, d.entry_id)
        lapsed.by_entry[key] = lapsed.by_entry.get(key, Decimal(0)) + d.amount
        window = usage_window(schedules_, d.occurred_at) if d.plan else None
        if window is not None:
            slot = (d.feature_id, window.begins)
            lapsed.by_window[slot] = lapsed.by_window.get(slot, Decimal(0)) + d.amount
    return lapsed


async def shown(
    tx: Tx,
    schedules_: Sequence[PlanSchedule],
    account_id: str,
    feature_id: str,
    entries_: Sequence[Entry],
    as_of: datetime | None = None,
    lapsed: Lapsed | None = None,
) -> list[Entry]:
    """`entries_` with each plan entry as its window leaves it, and each ROLLOVER entry as its
    window rolled it (the windows' usage as of `as_of`, when given: the draws recorded after it
    taken back; and without the units of `lapsed` holds)."""
    figures: dict[WindowKey, Decimal] = {}
    lapsed = lapsed or Lapsed()
    entries_ = lapsed.entries(feature_id, entries_)

    async def figure(key: WindowKey) -> Decimal:
        if key not in figures:
            figures[key] = await usage.usage_of(tx, key)
            if as_of is not None:
                figures[key] -= await usage.plan_drawn(tx, key, recorded_after=as_of)
            figures[key] -= lapsed.by_window.get((feature_id, key.begins), Decimal(0))
        return figures[key]

    groups: dict[str, list[Entry]] = {}
    views: dict[str, Entry] = {}
    rolling = [e for e in entries_ if rollover_of(e.id)]
    for e in entries_:
        group = group_of(e.id)
        if group is not None:
            groups.setdefault(group, []).append(e)
    rolled: dict[datetime, Decimal] = {}
    if groups or rolling:
        rolled = await rolled_over(tx, schedules_, account_id, feature_id, as_of, lapsed)
    for e in rolling:
        source = rollover_source_of(schedules_, feature_id, e)
        if source is None:
            views[e.id] = spent_rollover(e)
            continue
        # The window's plan draws and what other rollovers from it drew (those a plan change
        # left behind): this one gives what remains of that one allowance.
        origin = usage_window(schedules_, rollover_origin(e.id))
        mine = e.used if origin is not None and origin.begins == source.window.begins else 0
        others = rolled.get(source.window.begins, Decimal(0)) - mine
        used = await figure(key_of(account_id, feature_id, source.window)) + others
        views[e.id] = rollover_view(source, used, e)
    for members in groups.values():
        key = window_key(schedules_, account_id, feature_id, members[0])
        if key is None:
            continue
        used = await figure(key) + rolled.get(key.begins, Decimal(0))
        views.update((v.id, v) for v in plan_views(members, used))
    return [views.get(e.id, e) for e in entries_]


async def rolled_over(
    tx: Tx,
    schedules_: Sequence[PlanSchedule],
    account_id: str,
    feature_id: str,
    as_of: datetime | None = None,
    lapsed: Lapsed | None = None,
) -> dict[datetime, Decimal]:
    """What was drawn from the feature's stored ROLLOVER entries, by the start of the window
    each rolled from (its usage counts against that window: one allowance, used once)."""
    found: dict[datetime, Decimal] = {}
    stored = await entries.rollover_entries(tx, account_id, feature_id)
    since: dict[str, Decimal] = {}
    undone: dict[str, Decimal] = {}
    if stored and as_of is not None:
        since = await history.draws_after(tx, account_id, feature_id, as_of)
        undone = await event_log.reversed_after(tx, account_id, feature_id, as_of)
    for record in stored:
        entry_id = record.entry.id
        used = (
            record.entry.used - since.get(entry_id, Decimal(0)) + undone.get(entry_id, Decimal(0))
        )
        if lapsed is not None:
            used -= lapsed.by_entry.get((feature_id, entry_id), Decimal(0))
        window = usage_window(schedules_, rollover_origin(record.entry.id))
        if window is not None:
            found[window.begins] = found.get(window.begins, Decimal(0)) + used
    return found


def rollovers_unmade(
    schedules_: Sequence[PlanSchedule], feature_id: str, at: datetime
) -> list[Entry]:
    """The ROLLOVER entries valid at `at` (stored or not), as made: `shown` tells what each
    gives."""
    return [rollover_made(source) for source in rollovers_at(schedules_, feature_id, at)]
