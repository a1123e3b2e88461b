"""Feature credits: entries, their draw-down order, cycles of plans, and entitlement values.

An entry grants `granted` units of a feature to an account for `[effective_from,
effective_until)`. Usage draws from entries; `0 <= used <= granted` always holds.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum

from grantledger.domain.errors import InvalidInput, NotEntitled
from grantledger.domain.money import ZERO

# The wire requires an end; an entry without one is shown as ending here.
FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)
EVENT_ID_TTL = timedelta(days=45)


class EntrySource(StrEnum):
    ENTITLEMENT = "ENTITLEMENT"
    PRICE_PLAN = "PRICE_PLAN"
    OVERAGE = "OVERAGE"
    REFUND = "REFUND"


class EntryStatus(StrEnum):
    ACTIVE = "ACTIVE"
    EXPIRED = "EXPIRED"
    VOIDED = "VOIDED"


class ValueType(StrEnum):
    BOOLEAN = "BOOLEAN"
    NUMERIC = "NUMERIC"
    ENUM = "ENUM"
    STRING = "STRING"


class PlanType(StrEnum):
    BILLING = "BILLING"
    PURCHASE = "PURCHASE"


class Cycle(StrEnum):
    WEEKLY = "WEEKLY"
    MONTHLY = "MONTHLY"
    QUARTERLY = "QUARTERLY"
    ANNUALLY = "ANNUALLY"


@dataclass(frozen=True)
class Entry:
    id: str
    source: EntrySource
    effective_from: datetime
    effective_until: datetime | None
    granted: Decimal
    used: Decimal = ZERO
    voided: bool = False
    # Usage a plan change carried in from the cycle it cut short: part of `used`, with no draw.
    carried: Decimal = ZERO

    @property
    def balance(self) -> Decimal:
        return self.granted - self.used

    @property
    def is_overage(self) -> bool:
        return self.source is EntrySource.OVERAGE

    def status_at(self, at: datetime) -> EntryStatus:
        if self.voided:
            return EntryStatus.VOIDED
        if self.effective_until is not None and at >= self.effective_until:
            return EntryStatus.EXPIRED
        return EntryStatus.ACTIVE

    def is_effective_at(self, at: datetime) -> bool:
        return self.status_at(at) is EntryStatus.ACTIVE and self.effective_from <= at


def draw_key(entry: Entry) -> tuple[bool, datetime, datetime, str]:
    """Published draw order: included entries before overage, soonest end, oldest start, id."""
    return (
        entry.is_overage,
        entry.effective_until or FAR_FUTURE,
        entry.effective_from,
        entry.id,
    )


@dataclass(frozen=True)
class Draw:
    entry_id: str
    amount: Decimal


def available(entries: Iterable[Entry], at: datetime) -> Decimal:
    return sum((e.balance for e in entries if e.is_effective_at(at)), ZERO)


def draw(entries: Sequence[Entry], quantity: Decimal, at: datetime, feature_id: str) -> list[Draw]:
    """Take `quantity` from entries effective at `at`, or refuse the whole quantity."""
    usable = sorted((e for e in entries if e.is_effective_at(at) and e.balance > 0), key=draw_key)
    have = sum((e.balance for e in usable), ZERO)
    if have < quantity:
        raise NotEntitled(
            f"feature {feature_id} is not covered: needed {quantity}, available {have}"
        )
    draws: list[Draw] = []
    need = quantity
    for entry in usable:
        if need <= 0:
            break
        take = min(need, entry.balance)
        draws.append(Draw(entry.id, take))
        need -= take
    return draws


def apply_draw(entry: Entry, amount: Decimal) -> Entry:
    if amount <= 0 or amount > entry.balance:
        raise ValueError(f"entry {entry.id} cannot give {amount}")
    return replace(entry, used=entry.used + amount)


@dataclass(frozen=True)
class FeatureCredits:
    granted: Decimal
    balance: Decimal
    overage_limit: Decimal | None
    used_overage: Decimal


def feature_credits(entries: Iterable[Entry], at: datetime) -> FeatureCredits:
    granted = balance = limit = used_overage = ZERO
    has_overage = False
    for entry in entries:
        if not entry.is_effective_at(at):
            continue
        if entry.is_overage:
            has_overage = True
            limit += entry.granted
            used_overage += entry.used
        else:
            granted += entry.granted
            balance += entry.balance
    return FeatureCredits(granted, balance, limit if has_overage else None, used_overage)


def remaining_allowance(entries: Iterable[Entry], at: datetime) -> Decimal:
    """Balance plus remaining overage: what usage at `at` could still draw."""
    return available(entries, at)


def patch(
    entry: Entry,
    now: datetime,
    *,
    effective_until: datetime | None = None,
    granted: Decimal | None = None,
) -> Entry:
    status = entry.status_at(now)
    if status is not EntryStatus.ACTIVE:
        raise InvalidInput(f"entry {entry.id} is {status.value} and can no longer be changed")
    if effective_until is not None:
        if effective_until <= now:
            raise InvalidInput("effectiveUntil must be in the future")
        if effective_until <= entry.effective_from:
            raise InvalidInput("effectiveUntil must be after the entry's effectiveFrom")
        entry = replace(entry, effective_until=effective_until)
    if granted is not None:
        if granted < entry.used:
            raise InvalidInput(
                f"granted must be at least the {entry.used} already used from this entry"
            )
        entry = replace(entry, granted=granted)
    return entry


def void(entry: Entry, now: datetime) -> Entry:
    status = entry.status_at(now)
    if status is EntryStatus.VOIDED:
        return entry
    if status is EntryStatus.EXPIRED:
        raise InvalidInput(f"entry {entry.id} is EXPIRED and cannot be voided")
    return replace(entry, voided=True)


# --- cycles ------------------------------------------------------------------------------

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


_MONTHS = {Cycle.MONTHLY: 1, Cycle.QUARTERLY: 3, Cycle.ANNUALLY: 12}


def add_months(day: date, months: int, anchor_day: int) -> date:
    """`day` moved by whole months, keeping the anchor's day-of-month where the month has it."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(anchor_day, last))


def cycle_start(anchor: date, cycle: Cycle, n: int) -> date:
    if cycle is Cycle.WEEKLY:
        return anchor + timedelta(weeks=n)
    return add_months(anchor, _MONTHS[cycle] * n, anchor.day)


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


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


def purchase_entry_id(purchase_id: str, index: int) -> str:
    return f"{purchase_id}#{index}$PURCHASE"


_DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?$")


def parse_validity(text: str) -> tuple[int, int, int]:
    """An ISO-8601 date duration (`P30D`, `P1M`, `P1Y2M`, `P2W`) as (years, months, days)."""
    match = _DURATION.match(text)
    if not match or text == "P":
        raise InvalidInput(f"validity {text!r} must be an ISO-8601 duration such as P30D or P1M")
    years, months, weeks, days = (int(g) if g else 0 for g in match.groups())
    return years, months, weeks * 7 + days


def add_validity(start: datetime, validity: str) -> datetime:
    years, months, days = parse_validity(validity)
    try:
        moved = add_months(start.date(), years * 12 + months, start.day)
        return datetime.combine(moved, start.timetz()) + timedelta(days=days)
    except (OverflowError, ValueError) as exc:
        raise InvalidInput(f"validity {validity} runs past 9999-12-31") from exc


# --- values ------------------------------------------------------------------------------

_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def check_value(value_type: ValueType, allowed: Sequence[str] | None, value: str) -> str:
    """A value a plan or an account may hold for a feature of this type."""
    if value_type is ValueType.BOOLEAN and value not in ("true", "false"):
        raise InvalidInput("a BOOLEAN feature's value must be 'true' or 'false'")
    if value_type is ValueType.NUMERIC and not _NUMBER.match(value):
        raise InvalidInput("a NUMERIC feature's value must be a number written as a string")
    if value_type is ValueType.ENUM and (not allowed or value not in allowed):
        raise InvalidInput(f"value must be one of {', '.join(allowed or [])}")
    return value


def metered_value(remaining: Decimal) -> str:
    return "true" if remaining > 0 else "false"


def is_satisfied(
    value_type: ValueType, held: str | None, asked: str, remaining: Decimal | None
) -> bool:
    """Whether an account's entitlement covers `asked` (docs/api.md §6, validating a value).

    `held` is the set or plan value; `remaining` is balance + remaining overage for a metered
    feature (None when not metered).
    """
    if held is None:
        if remaining is None:
            return False
        if not _NUMBER.match(asked):
            return asked == "true" and remaining > 0
        return Decimal(asked) <= remaining
    if value_type is ValueType.BOOLEAN:
        return held == "true" or held == asked
    if value_type is ValueType.NUMERIC:
        if not _NUMBER.match(asked) or not _NUMBER.match(held):
            return False
        return Decimal(asked) <= Decimal(held)
    return held == asked
