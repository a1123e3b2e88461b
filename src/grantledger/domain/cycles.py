"""Plan cycles: how a schedule's time is cut into cycles, how far back an assignment or an
event may reach, where an overlapping schedule closes and resumes, and what a plan change
carries into the new plan's cycle.

Pure rules; `service/entitlements/cycles.py` and `schedules.py` read the rows and write what
these return.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from grantledger.domain.days import add_months, midnight
from grantledger.domain.entitlements import Entry, EntrySource
from grantledger.domain.errors import InvalidInput
from grantledger.domain.ids import EPOCH
from grantledger.domain.money import ZERO
from grantledger.domain.plans import PlanFeature


class Cycle(StrEnum):
    WEEKLY = "WEEKLY"
    MONTHLY = "MONTHLY"
    QUARTERLY = "QUARTERLY"
    # Togai's client has it (PricingCycleInterval): six months, clamped at month ends like the
    # other month-based cycles.
    HALF_YEARLY = "HALF_YEARLY"
    ANNUALLY = "ANNUALLY"


# How far before "now" a plan assignment may begin and an event may be dated. A schedule
# back-dated to 0001-01-01 would otherwise materialise thousands of cycles of entries at its
# first read; a year is room for migrating a customer and for late events.
MAX_REACH_BACK = timedelta(days=366)
# The most cycles of one schedule a single read makes (the latest ones; an idle account's older
# cycles are not materialised, and `asOf` reads still find the cycle containing their instant).
MAX_CYCLES_PER_READ = 60


def check_reach(at: datetime | date, now: datetime, what: str) -> None:
    """Refuse an instant (or a day) further back than MAX_REACH_BACK before `now`."""
    if now - datetime.min.replace(tzinfo=UTC) < MAX_REACH_BACK:
        return  # the calendar begins less than a year before now: nothing is too far back
    earliest = now - MAX_REACH_BACK
    if isinstance(at, datetime):
        too_far, shown = at < earliest, earliest.isoformat().replace("+00:00", "Z")
    else:
        too_far, shown = at < earliest.date(), earliest.date().isoformat()
    if too_far:
        raise InvalidInput(
            f"{what} reaches too far back: the earliest accepted is {shown} "
            f"({MAX_REACH_BACK.days} days before now)"
        )


_MONTHS = {Cycle.MONTHLY: 1, Cycle.QUARTERLY: 3, Cycle.HALF_YEARLY: 6, Cycle.ANNUALLY: 12}


def cycle_start(anchor: date, cycle: Cycle, n: int) -> date:
    if cycle is Cycle.WEEKLY:
        return anchor + timedelta(weeks=n)
    return add_months(anchor, _MONTHS[cycle] * n, anchor.day)


@dataclass(frozen=True)
class CycleWindow:
    start: date
    begins: datetime
    ends: datetime | None


def _start_or_none(anchor: date, cycle: Cycle, n: int) -> date | None:
    """Cycle n's start, or None when it would fall after 9999-12-31 (the calendar's end)."""
    try:
        return cycle_start(anchor, cycle, n)
    except (OverflowError, ValueError):
        return None


def _index_at(anchor: date, cycle: Cycle, day: date) -> int:
    """The number of the cycle containing `day` (which is on or after `anchor`)."""
    if cycle is Cycle.WEEKLY:
        return (day - anchor).days // 7
    step = _MONTHS[cycle]
    n = ((day.year - anchor.year) * 12 + day.month - anchor.month) // step + 1
    while n > 0 and ((guess := _start_or_none(anchor, cycle, n)) is None or guess > day):
        n -= 1
    return n


def _window(start: date, nxt: date | None, end: date | None) -> CycleWindow:
    # A cycle whose successor cannot be dated runs to the end of the schedule, or forever.
    stop = min(nxt, end) if nxt is not None and end is not None else (nxt or end)
    return CycleWindow(start, midnight(start), midnight(stop) if stop is not None else None)


def cycles_begun(
    anchor: date,
    end: date | None,
    cycle: Cycle,
    until: datetime,
    limit: int = MAX_CYCLES_PER_READ,
) -> list[CycleWindow]:
    """Every cycle of a schedule that has begun by `until` (the latest `limit` of them), clipped
    to the schedule's end."""
    windows: list[CycleWindow] = []
    if end is not None and end <= anchor:
        return windows  # a schedule closed on the day it began (0001-01-01 included) has none
    # Keeping the latest cycles (not the first ones) keeps the current cycle of a schedule
    # back-dated by more than `limit` cycles.
    n = 0
    last_day = until.date() if end is None else min(until.date(), end - timedelta(days=1))
    if until >= midnight(anchor) and last_day >= anchor:
        n = max(0, _index_at(anchor, cycle, last_day) - limit + 1)
    last = n + limit
    start = _start_or_none(anchor, cycle, n)
    while n < last and start is not None:
        if midnight(start) > until or (end is not None and start >= end):
            break
        following = _start_or_none(anchor, cycle, n + 1)
        windows.append(_window(start, following, end))
        start, n = following, n + 1
    return windows


def cycle_containing(
    anchor: date, end: date | None, cycle: Cycle, at: datetime
) -> CycleWindow | None:
    """The cycle in force at `at`, found without walking every earlier cycle."""
    if at < midnight(anchor) or (end is not None and at >= midnight(end)):
        return None
    n = _index_at(anchor, cycle, at.date())
    start = cycle_start(anchor, cycle, n)
    return _window(start, _start_or_none(anchor, cycle, n + 1), end)


def plan_entry_id(schedule_id: str, start: date, source: EntrySource) -> str:
    return f"{schedule_id}#{start.isoformat()}${source.value}"


def schedule_in_force(effective_from: date, effective_until: date | None, at: datetime) -> bool:
    """A schedule covers `[midnight(from), midnight(until))` in UTC."""
    begins = midnight(effective_from)
    ends = midnight(effective_until) if effective_until is not None else None
    return begins <= at and (ends is None or at < ends)


def closing_day(
    old_from: date, old_until: date | None, start: date, end: date | None
) -> date | None:
    """Where an existing BILLING schedule must end so a new one `[start, end)` can begin;
    None when the two do not overlap."""
    if old_until is not None and old_until <= start:
        return None
    if end is not None and old_from >= end:
        return None  # begins after the new schedule ends: no overlap, nothing to close
    return max(start, old_from)


def resumes_on(
    old_from: date, old_until: date | None, start: date, end: date | None
) -> date | None:
    """The day an old BILLING schedule resumes after a bounded new one `[start, end)` that sits
    inside it (a temporary plan): the new one's end; None when the old one does not outlast it."""
    if end is None or old_from >= end:
        return None
    if old_until is not None and (old_until <= end or old_until <= start):
        return None
    return end


@dataclass(frozen=True)
class Carry:
    """Usage a plan change carries into the new plan's cycle, split over its two entries."""

    included: Decimal  # into the PRICE_PLAN entry
    overage: Decimal  # into the OVERAGE entry


def carry_split(usage: Decimal, included: Decimal | None, overage: Decimal | None) -> Carry:
    """What the account drew so far in the running cycle, laid onto the new plan's allowance:
    the included credits first, the excess against the overage allowance, and anything beyond
    both is not carried (an entry never goes below 0)."""
    into_included = min(usage, included) if included is not None else ZERO
    rest = usage - into_included
    into_overage = min(rest, overage) if overage is not None else ZERO
    return Carry(into_included, into_overage)


PLAN_SOURCES = (EntrySource.PRICE_PLAN, EntrySource.OVERAGE)


@dataclass(frozen=True)
class ScheduleTerms:
    """What the cycle rules need of a BILLING schedule and its plan."""

    id: str
    effective_from: date
    effective_until: date | None
    created_at: datetime
    cycle: Cycle
    features: Sequence[PlanFeature]
    replaces: Sequence[str] = ()


def windows_at(terms: ScheduleTerms, at: datetime | None, now: datetime) -> list[CycleWindow]:
    """The schedule's begun cycles, or only the one containing `at` if it has begun."""
    if at is None:
        return cycles_begun(terms.effective_from, terms.effective_until, terms.cycle, now)
    window = cycle_containing(terms.effective_from, terms.effective_until, terms.cycle, at)
    return [window] if window is not None and window.begins <= now else []


@dataclass(frozen=True)
class CycleEntry:
    """One entry a cycle of a schedule yields, for one feature."""

    feature_id: str
    entry: Entry
    created_at: datetime


def cycle_entries(
    terms: ScheduleTerms,
    window: CycleWindow,
    feature_ids: Collection[str] | None,
    usage: Mapping[str, Decimal],
) -> list[CycleEntry]:
    """The PRICE_PLAN and OVERAGE entries one cycle of a BILLING schedule yields (of the
    features asked, or all), with the `usage` (by feature) a plan change carried into this
    cycle already drawn."""
    created = max(window.begins, terms.created_at)
    made: list[CycleEntry] = []
    for item in terms.features:
        if feature_ids is not None and item.feature_id not in feature_ids:
            continue
        if window.ends is not None and window.ends <= terms.created_at:
            # A cycle already over when the schedule was assigned (back-dated): its usage was
            # drawn under the plan of the time, so the new plan gives nothing more in it.
            carry = Carry(item.credits_per_cycle or ZERO, item.overage_per_cycle or ZERO)
        else:
            carry = carry_split(
                usage.get(item.feature_id, ZERO), item.credits_per_cycle, item.overage_per_cycle
            )
        for source, granted, carried in (
            (EntrySource.PRICE_PLAN, item.credits_per_cycle, carry.included),
            (EntrySource.OVERAGE, item.overage_per_cycle, carry.overage),
        ):
            if granted is None:
                continue
            entry = Entry(
                id=plan_entry_id(terms.id, window.start, source),
                source=source,
                effective_from=window.begins,
                effective_until=window.ends,
                granted=granted,
                used=carried,
                carried=carried,
            )
            made.append(CycleEntry(item.feature_id, entry, created))
    return made


def cut_cycle_ids(
    terms: ScheduleTerms, window: CycleWindow, replaced: Iterable[ScheduleTerms]
) -> set[str]:
    """The plan entries whose usage carries into the first cycle of a schedule assigned ahead
    of its start: those of the cycle its start cut short in each schedule it replaced (none
    at a cycle boundary)."""
    if not terms.replaces or window.start != terms.effective_from:
        return set()
    change = midnight(terms.effective_from)
    cut: set[str] = set()
    for old in replaced:
        if old.id not in terms.replaces:
            continue
        running = cycle_containing(
            old.effective_from, None, old.cycle, change - timedelta(microseconds=1)
        )
        if running is None or running.ends == change:
            continue
        cut.update(plan_entry_id(old.id, running.start, src) for src in PLAN_SOURCES)
    return cut


def listing_instants(starts: Sequence[tuple[datetime, str]]) -> list[datetime]:
    """An instant per (cycle start, entry id), for the "newest first" order of entry lists.

    Cycles are made lazily and out of order (the current one by an event, earlier ones by a
    later read), so creation time would list an old cycle above the current one. Within one
    start, a rank of microseconds keeps the order deterministic (PRICE_PLAN above OVERAGE).
    Instants before 1970 are taken as 1970 (ids cannot encode earlier ones), ranked the same
    way. The result is in the order of `starts`.
    """
    order = sorted(range(len(starts)), key=lambda i: (max(starts[i][0], EPOCH), starts[i][1]))
    instants: list[datetime] = [EPOCH] * len(starts)
    previous: datetime | None = None
    rank = 0
    for i in order:
        begins = max(starts[i][0], EPOCH)
        rank = rank + 1 if begins == previous else 0
        previous = begins
        instants[i] = begins + timedelta(microseconds=rank)
    return instants
