"""Usage windows: a cycle's usage is one figure, made from the draws themselves.

An account's BILLING schedules cut its time into **usage windows**. Inside a schedule every
cycle start (counted from the schedule's anchor) begins a new window. Where one schedule
follows another, a new window begins only if the new one starts on a cycle start of its own
and the old one's cycle ends there too (or nothing was in force before); otherwise the change
happened inside a cycle and the window runs on across it, until the new schedule's next cycle
start. So a plan change, a temporary plan and the resumed plan after it, a cancelled or
replaced future change all leave the window — and the usage counted in it — where it was.

The usage of a window is the sum of every draw from a plan's allowance dated inside it, from
whichever schedule's entries (`U`). It is never capped: usage beyond every allowance stays
remembered. A schedule's entries of a cycle (PRICE_PLAN, then OVERAGE) give what the plan sold
minus what was drawn in the window from anywhere else, laid on the included allowance first:
`plan_views`. So within one window the draws never exceed the largest allowance of a plan in
force in it, whatever sequence of assignments, changes, voids and reads happened
(`window_allowance` is what `grantledger verify` holds them to).

Pure rules; the figure itself is kept by the store (`plan_usage`, a cache of the draws that
`grantledger verify` recomputes), and `service/entitlements/plan_view.py` applies these rules.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal

from grantledger.domain.cycles import (
    MAX_CYCLES_PER_READ,
    Cycle,
    CycleWindow,
    cycle_containing,
    cycles_begun,
    plan_entry_id,
)
from grantledger.domain.days import midnight
from grantledger.domain.entitlements import Entry, EntrySource
from grantledger.domain.ids import EPOCH, RANDOM_WIDTH, base62, new_id
from grantledger.domain.money import ZERO
from grantledger.domain.plans import PlanFeature

# An event stamped this little past a cycle boundary the server's clock has not reached yet
# (the producer's clock runs ahead) is judged in its own cycle rather than refused.
CLOCK_SKEW = timedelta(seconds=10)
PLAN_SOURCES = (EntrySource.PRICE_PLAN, EntrySource.OVERAGE)
_JUST_BEFORE = timedelta(microseconds=1)
# The tag of a ROLLOVER entry's id (62**8 values): two rollovers of one window never share one.
ROLLOVER_TAG_WIDTH = 8


@dataclass(frozen=True)
class PlanSchedule:
    """What the window rules need of a BILLING schedule and its plan."""

    id: str
    effective_from: date
    effective_until: date | None
    created_at: datetime
    cycle: Cycle
    features: Sequence[PlanFeature]
    # Cycles are counted from here: the schedule's start, or, for a plan resumed after a
    # temporary one, the original schedule's anchor (its month goes on).
    anchor: date | None = None
    grace_days: int | None = None

    @property
    def begins(self) -> datetime:
        return midnight(self.effective_from)

    @property
    def ends(self) -> datetime | None:
        return midnight(self.effective_until) if self.effective_until is not None else None

    @property
    def counted_from(self) -> date:
        return self.anchor or self.effective_from

    def is_empty(self) -> bool:
        return self.effective_until is not None and self.effective_until <= self.effective_from

    def covers(self, at: datetime) -> bool:
        ends = self.ends
        return not self.is_empty() and self.begins <= at and (ends is None or at < ends)

    def feature(self, feature_id: str) -> PlanFeature | None:
        return next((f for f in self.features if f.feature_id == feature_id), None)


@dataclass(frozen=True)
class Window:
    """A usage window: `[begins, ends)`, `ends` None while it runs on."""

    begins: datetime
    ends: datetime | None

    def holds(self, at: datetime) -> bool:
        return self.begins <= at and (self.ends is None or at < self.ends)


def in_force(schedules: Iterable[PlanSchedule], at: datetime) -> PlanSchedule | None:
    """The schedule in force at `at` (the latest to begin, should two ever overlap)."""
    found = [s for s in schedules if s.covers(at)]
    return max(found, key=lambda s: (s.begins, s.id)) if found else None


def schedule_cycle(s: PlanSchedule, at: datetime) -> CycleWindow | None:
    """The cycle of `s` holding `at`, clipped to the schedule: what its entries cover."""
    if not s.covers(at):
        return None
    cycle = cycle_containing(s.counted_from, s.effective_until, s.cycle, at)
    if cycle is None:
        return None
    return replace(cycle, begins=max(cycle.begins, s.begins))


def begun_cycles(
    s: PlanSchedule, until: datetime, limit: int = MAX_CYCLES_PER_READ
) -> list[CycleWindow]:
    """The cycles of `s` begun by `until` (the latest `limit`), clipped to the schedule."""
    if s.is_empty():
        return []
    found = cycles_begun(s.counted_from, s.effective_until, s.cycle, until, limit + 1)
    clipped = [
        replace(c, begins=max(c.begins, s.begins))
        for c in found
        if (c.ends is None or c.ends > s.begins) and max(c.begins, s.begins) <= until
    ]
    return clipped[-limit:]


def _unclipped(s: PlanSchedule, at: datetime) -> CycleWindow:
    cycle = cycle_containing(s.counted_from, None, s.cycle, at)
    assert cycle is not None  # `at` is inside the schedule, on or after its anchor
    return cycle


def _starts_fresh(schedules: Sequence[PlanSchedule], s: PlanSchedule) -> bool:
    """Whether a new window begins where `s` begins."""
    before = in_force(schedules, s.begins - _JUST_BEFORE)
    if before is None:
        return True
    if _unclipped(s, s.begins).begins != s.begins:
        return False  # `s` begins inside one of its own cycles (a plan resumed)
    return _unclipped(before, s.begins - _JUST_BEFORE).ends == s.begins


def usage_window(schedules: Sequence[PlanSchedule], at: datetime) -> Window | None:
    """The usage window holding `at`; None when no BILLING schedule is in force then."""
    live = [s for s in schedules if not s.is_empty()]
    s = in_force(live, at)
    if s is None:
        return None
    return Window(_window_begins(live, s, at, len(live)), _window_ends(live, s, at, len(live)))


def _window_begins(
    live: Sequence[PlanSchedule], s: PlanSchedule, at: datetime, hops: int
) -> datetime:
    cycle = _unclipped(s, at)
    if cycle.begins > s.begins or hops <= 0 or _starts_fresh(live, s):
        return max(cycle.begins, s.begins)
    before = in_force(live, s.begins - _JUST_BEFORE)
    assert before is not None
    return _window_begins(live, before, s.begins - _JUST_BEFORE, hops - 1)


def _window_ends(
    live: Sequence[PlanSchedule], s: PlanSchedule, at: datetime, hops: int
) -> datetime | None:
    following = _unclipped(s, at).ends
    ends = s.ends
    if ends is None or (following is not None and following < ends):
        return following
    after = in_force(live, ends)
    if after is None or hops <= 0 or _starts_fresh(live, after):
        return ends
    return _window_ends(live, after, ends, hops - 1)


def windows_over(
    schedules: Sequence[PlanSchedule], begins: datetime, ends: datetime
) -> list[Window]:
    """Every usage window holding an instant of `[begins, ends)`, in order."""
    found: list[Window] = []
    at = begins
    while at < ends:
        window = usage_window(schedules, at)
        if window is None:
            nxt = min(
                (s.begins for s in schedules if not s.is_empty() and s.begins > at),
                default=None,
            )
            if nxt is None:
                break
            at = nxt
            continue
        found.append(window)
        if window.ends is None:
            break
        at = window.ends
    return found


def window_allowance(
    schedules: Sequence[PlanSchedule], window: Window, feature_id: str
) -> Decimal | None:
    """The most any plan in force during `window` sold of the feature per cycle (allowance +
    overage): what the window's draws may never exceed. None: no plan there sells it."""
    best: Decimal | None = None
    for s in schedules:
        if s.is_empty():
            continue
        overlaps = (window.ends is None or s.begins < window.ends) and (
            s.ends is None or s.ends > window.begins
        )
        item = s.feature(feature_id)
        if not overlaps or item is None:
            continue
        sold = (item.credits_per_cycle or ZERO) + (item.overage_per_cycle or ZERO)
        if item.credits_per_cycle is None and item.overage_per_cycle is None:
            continue
        best = sold if best is None else max(best, sold)
    return best


def cycle_entries(
    s: PlanSchedule, cycle: CycleWindow, feature_ids: Collection[str] | None
) -> list[tuple[str, Entry]]:
    """(feature id, entry) of the PRICE_PLAN and OVERAGE entries one cycle of `s` yields (of
    the features asked, or all), nothing drawn yet: what they give is `plan_views`' to say."""
    made: list[tuple[str, Entry]] = []
    for item in s.features:
        if feature_ids is not None and item.feature_id not in feature_ids:
            continue
        for source, granted in (
            (EntrySource.PRICE_PLAN, item.credits_per_cycle),
            (EntrySource.OVERAGE, item.overage_per_cycle),
        ):
            if granted is None:
                continue
            entry = Entry(
                id=plan_entry_id(s.id, cycle.start, source),
                source=source,
                effective_from=cycle.begins,
                effective_until=cycle.ends,
                granted=granted,
            ).checked()
            made.append((item.feature_id, entry))
    return made


def group_of(entry_id: str) -> str | None:
    """The (schedule, cycle) a plan entry belongs to — `sch.…#2026-12-01` — or None for any
    other entry."""
    head, sep, source = entry_id.rpartition("$")
    if not sep or source not in (s.value for s in PLAN_SOURCES) or "#" not in head:
        return None
    return head


def plan_views(group: Sequence[Entry], window_usage: Decimal) -> list[Entry]:
    """The entries of one (schedule, cycle) as they stand, given the usage of their window.

    The window's whole usage (these entries' own draws and every other plan draw dated in it)
    is laid on the included allowance first, then on the overage: so together they give what
    the plan sold minus the window's usage, never below 0. An entry never shows less than its
    own draws; the part laid on it from elsewhere is `carried` (usage with no draw of its own).
    A voided entry gives nothing, whatever is laid on it.
    """
    included = next((e for e in group if e.source is EntrySource.PRICE_PLAN), None)
    included_granted = included.granted if included is not None else ZERO
    shown: list[Entry] = []
    for e in group:
        if e.source is EntrySource.PRICE_PLAN:
            laid = min(e.granted, window_usage)
        else:
            laid = min(e.granted, max(ZERO, window_usage - included_granted))
        used = max(e.used, laid)
        shown.append(replace(e, used=used, carried=used - e.used))
    return shown


def past_grace(s: PlanSchedule, at: datetime, now: datetime) -> datetime | None:
    """When the plan cycle holding `at` closed, if that was more than the plan's grace period
    ago (an event stamped in it is refused); None while it may still be judged, or when the
    plan sets no grace period."""
    if s.grace_days is None:
        return None
    cycle = schedule_cycle(s, at)
    if cycle is None or cycle.ends is None:
        return None
    return cycle.ends if cycle.ends + timedelta(days=s.grace_days) <= now else None


# Within one cycle start, PRICE_PLAN lists above OVERAGE ("newest first").
_LISTING_RANK = {EntrySource.OVERAGE: 0, EntrySource.PRICE_PLAN: 1}


def plan_row_key(owner: str, entry: Entry) -> str:
    """The listing key of a plan entry ("newest first" pages), the same whether the entry is
    stored or only shown: its cycle's start (instants before 1970 taken as 1970, which ids
    cannot encode), PRICE_PLAN a microsecond above OVERAGE, and a tail derived from the
    entry's owner (organization, account, feature) and id, so the key never changes when a
    read's entry is later made."""
    at = max(entry.effective_from, EPOCH) + timedelta(
        microseconds=_LISTING_RANK.get(entry.source, 2)
    )
    digest = int.from_bytes(hashlib.sha256(f"{owner}/{entry.id}".encode()).digest()[:8], "big")
    return new_id("fce", at, base62(digest % 62**RANDOM_WIDTH, RANDOM_WIDTH))


@dataclass(frozen=True)
class Drawn:
    """A draw `verify` replays: from a plan's allowance (counted where its event is dated) or a
    ROLLOVER entry (counted in the window it rolled from)."""

    feature_id: str
    at: datetime  # where it counts
    amount: Decimal
    recorded_at: datetime


@dataclass(frozen=True)
class Excess:
    feature_id: str
    window: Window
    drawn: Decimal
    allowed: Decimal | None
    recorded_at: datetime


def window_problems(
    schedules_at: Callable[[datetime], Sequence[PlanSchedule]],
    changed_at: Sequence[datetime],
    drawn: Sequence[Drawn],
    granted_in: Callable[[Sequence[PlanSchedule], str, Window], Decimal | None],
) -> list[Excess]:
    """Replay the draws in the order they were recorded against the schedules as they stood
    then (`schedules_at`; they change only at the instants `changed_at`) and report each one
    that took its usage window past the largest allowance a plan in force over the window sold
    (or what its stored plan entries grant, `granted_in`: a PATCH may raise it). This is the
    rule the gate keeps at every draw; a later back-dated change that merges old windows does
    not make earlier draws wrong."""
    problems: list[Excess] = []
    changes = sorted(changed_at)
    seen: list[Drawn] = []
    sums: dict[tuple[str, Window], Decimal] = {}
    schedules: Sequence[PlanSchedule] = ()
    next_change = 0
    # At one instant reversals (negative amounts) first: a draw recorded with a correction may
    # have needed it.
    for d in sorted(drawn, key=lambda d: (d.recorded_at, d.amount >= 0)):
        if next_change == 0 or (
            next_change < len(changes) and changes[next_change] <= d.recorded_at
        ):
            while next_change < len(changes) and changes[next_change] <= d.recorded_at:
                next_change += 1
            schedules = schedules_at(d.recorded_at)
            sums = {}
            for earlier in seen:
                w = usage_window(schedules, earlier.at)
                if w is not None:
                    sums[(earlier.feature_id, w)] = (
                        sums.get((earlier.feature_id, w), ZERO) + earlier.amount
                    )
        seen.append(d)
        window = usage_window(schedules, d.at)
        if window is None:
            continue
        total = sums.get((d.feature_id, window), ZERO) + d.amount
        sums[(d.feature_id, window)] = total
        sold = window_allowance(schedules, window, d.feature_id)
        stored = granted_in(schedules, d.feature_id, window)
        allowed = max(sold, stored) if sold is not None and stored is not None else (sold or stored)
        if allowed is None or total > allowed:
            problems.append(Excess(d.feature_id, window, total, allowed, d.recorded_at))
    return problems


# --- rollover ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RolloverSource:
    """A closed usage window whose unused included allowance rolls into a ROLLOVER entry."""

    window: Window  # closed: `ends` is set
    schedule_id: str  # the schedule whose cycle closed it
    cycle_start: date
    included: Decimal  # that plan's creditsPerCycle
    cap: Decimal | None  # rollover.maxUnits
    until: datetime | None  # the end of the last window it is valid in

    @property
    def entry_id(self) -> str:
        """Named for the window it rolls from (windows begin at midnight) and tagged with what
        it rolls: where that window closes, the last window it is valid in, the closing plan's
        allowance and cap. A stored entry is this rollover only while all of them still hold;
        a plan change that moves any of them names a new entry for what is left (the old one
        is spent, its draws still counted against the window), so no stored entry's dates or
        grant made under the plans of its time outlive them."""
        return rollover_id(self.window, self.tag)

    @property
    def tag(self) -> str:
        ends = self.window.ends.isoformat() if self.window.ends is not None else ""
        until = self.until.isoformat() if self.until is not None else ""
        cap = self.cap.normalize() if self.cap is not None else ""
        made = f"{ends}|{until}|{self.included.normalize()}|{cap}"
        digest = int.from_bytes(hashlib.sha256(made.encode()).digest()[:8], "big")
        return base62(digest % 62**ROLLOVER_TAG_WIDTH, ROLLOVER_TAG_WIDTH)

    @property
    def most(self) -> Decimal:
        """The most it can ever roll: what a stored ROLLOVER entry grants."""
        return self.included if self.cap is None else min(self.cap, self.included)


def _closing(
    schedules: Sequence[PlanSchedule], window: Window
) -> tuple[PlanSchedule, CycleWindow] | None:
    """The schedule whose cycle ends the closed `window`, with that cycle."""
    if window.ends is None:
        return None
    s = in_force(schedules, window.ends - _JUST_BEFORE)
    cycle = schedule_cycle(s, window.ends - _JUST_BEFORE) if s is not None else None
    return (s, cycle) if s is not None and cycle is not None else None


def rollover_source(
    schedules: Sequence[PlanSchedule], feature_id: str, window: Window
) -> RolloverSource | None:
    """What the closed `window` rolls over of the feature, if its closing plan says so."""
    closing = _closing(schedules, window)
    if closing is None or window.ends is None:
        return None
    s, cycle = closing
    item = s.feature(feature_id)
    if item is None or item.rollover is None or item.credits_per_cycle is None:
        return None
    until: datetime | None = window.ends
    for _ in range(item.rollover.cycles):
        following = usage_window(schedules, until) if until is not None else None
        if following is None:
            break
        until = following.ends
    return RolloverSource(
        window, s.id, cycle.start, item.credits_per_cycle, item.rollover.max_units, until
    )


_MOST_ROLLOVER_CYCLES = 120


def rolls_over(schedules: Sequence[PlanSchedule], feature_ids: Collection[str]) -> bool:
    """Whether any of the plans rolls any of the features over."""
    return any(
        f.rollover is not None and f.feature_id in feature_ids
        for s in schedules
        for f in s.features
    )


def rollovers_at(
    schedules: Sequence[PlanSchedule], feature_id: str, at: datetime
) -> list[RolloverSource]:
    """Every rollover valid at `at`: from the windows closed before the one holding `at`, as
    far back as the plans' `maxCycles` reach (never across a time with no plan in force)."""
    reach = max(
        (
            f.rollover.cycles
            for s in schedules
            for f in s.features
            if f.feature_id == feature_id and f.rollover is not None
        ),
        default=0,
    )
    current = usage_window(schedules, at)
    if reach == 0 or current is None:
        return []
    found: list[RolloverSource] = []
    edge = current.begins
    for _ in range(min(reach, _MOST_ROLLOVER_CYCLES)):
        earlier = usage_window(schedules, edge - _JUST_BEFORE)
        if earlier is None:
            break
        source = rollover_source(schedules, feature_id, earlier)
        if source is not None and (source.until is None or at < source.until):
            found.append(source)
        edge = earlier.begins
    return found


def rollover_view(
    source: RolloverSource, window_usage: Decimal, own: Entry | None, others: Decimal = ZERO
) -> Entry:
    """The ROLLOVER entry of `source` as it stands: what its window left of the included
    allowance (at most the cap), given the window's usage (its plan draws), less what `others`
    — the window's other ROLLOVER entries, those plan changes left behind — drew of that one
    rolled amount; never below what was drawn from this entry itself. A stored entry (`own`)
    keeps its own dates, void and draws (a PATCH or void of it is history like any entry's)."""
    rolled = max(ZERO, source.included - window_usage)
    if source.cap is not None:
        rolled = min(rolled, source.cap)
    # The cap bounds all that rolls from the window, whichever of its entries it was drawn from.
    rolled = max(ZERO, rolled - others)
    made = own if own is not None else rollover_made(source)
    # A stored entry's `granted` is the most its draws may reach (the store and the gate hold
    # `used <= granted`; a PATCH may have lowered it): reads never show what the gate cannot
    # give.
    rolled = min(rolled, made.granted)
    return replace(made, granted=max(rolled, made.used))


def rollover_made(source: RolloverSource) -> Entry:
    """A ROLLOVER entry as stored when first drawn from: granting the most it can ever roll
    (what it gives is `rollover_view`'s to say)."""
    return Entry(
        id=source.entry_id,
        source=EntrySource.ROLLOVER,
        effective_from=source.window.ends or source.window.begins,
        effective_until=source.until,
        granted=source.most,
    ).checked()


def rollover_of(entry_id: str) -> bool:
    return entry_id.endswith("$" + EntrySource.ROLLOVER.value)


def rollover_id(window: Window, tag: str) -> str:
    day = window.begins.date().isoformat()
    return f"rollover#{day}.{tag}${EntrySource.ROLLOVER.value}"


def rollover_origin(entry_id: str) -> datetime:
    """Where the window a ROLLOVER entry rolled from began: its draws are that window's
    allowance, used once (whichever window holds that instant now, after any plan change).
    Entries stored before ids carried a tag (`rollover#2026-03-01$ROLLOVER`) parse too."""
    day = entry_id.removeprefix("rollover#").split("$", 1)[0].split(".", 1)[0]
    return midnight(date.fromisoformat(day))


def spent_rollover(entry: Entry) -> Entry:
    """A stored ROLLOVER entry no window rolls into any more (plan changes moved the windows):
    it keeps what was drawn from it and gives nothing more, so no unit is usable twice."""
    return replace(entry, granted=entry.used)


def rollover_source_of(
    schedules: Sequence[PlanSchedule], feature_id: str, entry: Entry
) -> RolloverSource | None:
    """The source of a stored ROLLOVER entry: the window that closed where it begins, if the
    schedules as they stand still give it exactly the source its id names (`entry_id`'s tag);
    otherwise None, and the entry is spent (`spent_rollover`). After a plan change inside the
    next cycle, say, the window the entry rolled from runs on past the entry's start: it has
    not closed, and rolls nothing until it does (then under an id of its own)."""
    window = usage_window(schedules, entry.effective_from - _JUST_BEFORE)
    if window is None or window.ends != entry.effective_from:
        return None
    source = rollover_source(schedules, feature_id, window)
    return source if source is not None and source.entry_id == entry.id else None
