"""Plan cycles: how a schedule's time is cut into cycles, how far back an assignment or an
event may reach, and where an overlapping schedule closes and resumes (what a cycle yields and
how its usage is counted: `domain/windows.py`).

Pure rules; `service/entitlements/cycles.py` and `schedules.py` read the rows and write what
these return.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from grantledger.domain.days import add_months, midnight
from grantledger.domain.entitlements import EntrySource
from grantledger.domain.errors import InvalidInput


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
