"""Unit and property tests of the pure entitlement rules (docs/api.md §6, §7): the draw-down
order, all-or-nothing acceptance, entry invariants under grants, usage, PATCHes and voids, the
cycles of plan schedules, and entitlement values.

Every expectation comes from a reference model written here from docs/api.md §6, §7,
independently of the code under test, so that a change of rule in either one shows up as a failure.
"""

from __future__ import annotations

import calendar
import functools
import itertools
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from grantledger.domain.cycles import (
    MAX_CYCLES_PER_READ,
    MAX_REACH_BACK,
    Cycle,
    CycleWindow,
    check_reach,
    cycle_containing,
    cycle_start,
    cycles_begun,
    plan_entry_id,
)
from grantledger.domain.entitlements import (
    FAR_FUTURE,
    Draw,
    Entry,
    EntrySource,
    EntryStatus,
    ValueType,
    add_validity,
    apply_draw,
    available,
    check_value,
    draw,
    draw_key,
    drawable,
    feature_credits,
    is_satisfied,
    metered_value,
    parse_validity,
    patch,
    purchase_entry_id,
    remaining_allowance,
    void,
)
from grantledger.domain.errors import InvalidInput, NotEntitled
from grantledger.domain.gate import quantities_of
from tests.ordering import first_difference

PROPERTY = settings(max_examples=settings.default.max_examples * 3 // 2, deadline=None)

ZERO = Decimal(0)
T0 = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
FEATURES = ["ai-tokens", "seats", "storage"]
INCLUDED = [EntrySource.ENTITLEMENT, EntrySource.PRICE_PLAN, EntrySource.REFUND]


def at(hours: int) -> datetime:
    return T0 + hours * HOUR


def entry(
    entry_id: str,
    granted: str | int | Decimal,
    *,
    source: EntrySource = EntrySource.ENTITLEMENT,
    start: datetime = T0,
    until: datetime | None = None,
    used: str | int | Decimal = 0,
    voided: bool = False,
) -> Entry:
    return Entry(
        id=entry_id,
        source=source,
        effective_from=start,
        effective_until=until,
        granted=Decimal(granted),
        used=Decimal(used),
        voided=voided,
    )


# ---------------------------------------------------------------------------------------------
# Reference rules, from docs/api.md §6, §7
# ---------------------------------------------------------------------------------------------


def ref_usable(e: Entry, instant: datetime) -> bool:
    """Not voided, started (`effectiveFrom <= t`) and not ended (`t < effectiveUntil`)."""
    if e.voided or instant < e.effective_from:
        return False
    return e.effective_until is None or instant < e.effective_until


def ref_cmp(a: Entry, b: Entry) -> int:
    """Non-overage first; then earliest effectiveUntil (none = never ends = last), earliest
    effectiveFrom, id."""
    return first_difference(
        (a.source is EntrySource.OVERAGE, b.source is EntrySource.OVERAGE),
        (a.effective_until, b.effective_until),
        (a.effective_from, b.effective_from),
        (a.id, b.id),
    )


def ref_left(e: Entry) -> Decimal:
    return e.granted - e.used


def ref_available(entries: Sequence[Entry], instant: datetime) -> Decimal:
    total = ZERO
    for e in entries:
        if ref_usable(e, instant):
            total += ref_left(e)
    return total


def ref_draw(
    entries: Sequence[Entry], quantity: Decimal, instant: datetime
) -> list[tuple[str, Decimal]] | None:
    """Greedy in the published order; None when the usable entries cannot cover it all."""
    if ref_available(entries, instant) < quantity:
        return None
    taken: list[tuple[str, Decimal]] = []
    need = quantity
    for e in sorted(entries, key=functools.cmp_to_key(ref_cmp)):
        if need == 0:
            break
        if not ref_usable(e, instant) or ref_left(e) == 0:
            continue
        amount = min(need, ref_left(e))
        taken.append((e.id, amount))
        need -= amount
    return taken


def ref_credits(
    entries: Sequence[Entry], instant: datetime
) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """(granted, balance) over included entries and (limit, used) over overage entries,
    all usable at `instant`."""
    granted = balance = limit = used_overage = ZERO
    for e in entries:
        if not ref_usable(e, instant):
            continue
        if e.source is EntrySource.OVERAGE:
            limit += e.granted
            used_overage += e.used
        else:
            granted += e.granted
            balance += ref_left(e)
    return granted, balance, limit, used_overage


def ref_status(e: Entry, now: datetime) -> EntryStatus:
    if e.voided:
        return EntryStatus.VOIDED
    if e.effective_until is not None and now >= e.effective_until:
        return EntryStatus.EXPIRED
    return EntryStatus.ACTIVE


# ---------------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------------

tenths = st.integers(0, 60).map(lambda n: Decimal(n).scaleb(-1))
quantities = st.integers(0, 90).map(lambda n: Decimal(n).scaleb(-1))
instants = st.integers(-2, 14).map(at)
SOURCES = [*INCLUDED, EntrySource.OVERAGE, EntrySource.OVERAGE]


@st.composite
def entry_st(draw_: st.DrawFn, entry_id: str) -> Entry:
    """An entry in any state; ties on every part of the order are likely."""
    granted = draw_(st.integers(0, 60))
    start = at(draw_(st.integers(0, 6)))
    until = draw_(st.one_of(st.none(), st.integers(1, 8).map(lambda n: start + n * HOUR)))
    return Entry(
        id=entry_id,
        source=draw_(st.sampled_from(SOURCES)),
        effective_from=start,
        effective_until=until,
        granted=Decimal(granted).scaleb(-1),
        used=Decimal(draw_(st.integers(0, granted))).scaleb(-1),
        voided=draw_(st.integers(0, 5)) == 0,
    )


@st.composite
def entry_sets(draw_: st.DrawFn, max_size: int = 8) -> list[Entry]:
    size = draw_(st.integers(0, max_size))
    # Ids in an order unrelated to everything else, so that id is a real tie-breaker.
    ids = draw_(st.permutations([f"entry.{n:02d}" for n in range(size)]))
    return [draw_(entry_st(entry_id)) for entry_id in ids]


# ---------------------------------------------------------------------------------------------
# Status, order, draw-down
# ---------------------------------------------------------------------------------------------


def test_status_and_effective_window_boundaries() -> None:
    e = entry("e", 5, start=at(0), until=at(10))
    assert e.status_at(at(-1)) is EntryStatus.ACTIVE  # not started yet is still ACTIVE
    assert not e.is_effective_at(at(-1))
    assert e.is_effective_at(at(0))  # the start is inclusive
    assert e.is_effective_at(at(10) - timedelta(microseconds=1))
    assert e.status_at(at(10)) is EntryStatus.EXPIRED  # ... the end exclusive
    assert not e.is_effective_at(at(10))
    assert replace(e, voided=True).status_at(at(20)) is EntryStatus.VOIDED
    assert not replace(e, voided=True).is_effective_at(at(5))
    forever = entry("f", 5, start=at(0))
    assert forever.status_at(datetime(9999, 1, 1, tzinfo=UTC)) is EntryStatus.ACTIVE
    assert datetime(9999, 12, 31, tzinfo=UTC) == FAR_FUTURE


@PROPERTY
@given(entry_sets(), instants)
def test_status_and_usability_match_design(entries: list[Entry], now: datetime) -> None:
    for e in entries:
        assert e.status_at(now) is ref_status(e, now)
        assert e.is_effective_at(now) == ref_usable(e, now)
        assert e.balance == e.granted - e.used
        assert e.is_overage == (e.source is EntrySource.OVERAGE)


@PROPERTY
@given(entry_sets())
def test_draw_key_is_the_design_order(entries: list[Entry]) -> None:
    for a in entries:
        for b in entries:
            expected = ref_cmp(a, b)
            assert (draw_key(a) < draw_key(b)) == (expected < 0), (a, b)
            assert (draw_key(a) == draw_key(b)) == (expected == 0), (a, b)


def test_draw_order_example() -> None:
    now = at(2)
    entries = [
        entry("o-overage-soonest", 3, source=EntrySource.OVERAGE, until=at(3)),
        entry("o-overage-open", 3, source=EntrySource.OVERAGE),
        entry("z-soonest", 1, source=EntrySource.PRICE_PLAN, until=at(4)),
        entry("y-later", 1, source=EntrySource.REFUND, until=at(9)),
        entry("x-open-old", 1, start=at(-10)),
        entry("b-open", 1),
        entry("c-open", 1),
        entry("a-voided", 9, until=at(3), voided=True),
        entry("a-future", 9, start=at(3), until=at(4)),
        entry("a-ended", 9, start=at(-5), until=now),  # ends exactly now: no longer usable
        entry("a-empty", 4, until=at(3), used=4),
        entry("a-partly-used", 4, until=at(5), used="3.5"),
    ]
    shuffled = entries[:]
    random.Random(7).shuffle(shuffled)
    drawn = draw(shuffled, Decimal("7.5"), now, "ai-tokens")
    assert drawn == [
        Draw("z-soonest", Decimal(1)),
        Draw("a-partly-used", Decimal("0.5")),
        Draw("y-later", Decimal(1)),
        Draw("x-open-old", Decimal(1)),
        Draw("b-open", Decimal(1)),
        Draw("c-open", Decimal(1)),
        Draw("o-overage-soonest", Decimal(2)),
    ]
    # Overage spills from one OVERAGE entry into the next, in the same order.
    assert draw(entries, Decimal(10), now, "ai-tokens")[-2:] == [
        Draw("o-overage-soonest", Decimal(3)),
        Draw("o-overage-open", Decimal("1.5")),
    ]
    assert available(entries, now) == Decimal("11.5")
    with pytest.raises(NotEntitled) as refused:
        draw(entries, Decimal("11.6"), now, "ai-tokens")
    message = refused.value.message
    assert "ai-tokens" in message and "11.6" in message and "11.5" in message


@PROPERTY
@given(entry_sets(), quantities, instants)
def test_draw_matches_design(entries: list[Entry], quantity: Decimal, instant: datetime) -> None:
    expected = ref_draw(entries, quantity, instant)
    if expected is None:
        event("refused")
        with pytest.raises(NotEntitled) as refused:
            draw(entries, quantity, instant, "seats")
        message = refused.value.message
        assert "seats" in message
        figures = {Decimal(n) for n in re.findall(r"\d+(?:\.\d+)?", message)}
        assert {quantity, ref_available(entries, instant)} <= figures, message
        return
    event("covered")
    drawn = draw(entries, quantity, instant, "seats")
    assert [(d.entry_id, d.amount) for d in drawn] == expected
    assert sum((d.amount for d in drawn), ZERO) == quantity
    by_id = {e.id: e for e in entries}
    for d in drawn:
        assert d.amount > 0
        assert ref_usable(by_id[d.entry_id], instant)
        assert d.amount <= ref_left(by_id[d.entry_id])
    # Overage is touched only once every usable included unit is gone.
    if any(by_id[d.entry_id].source is EntrySource.OVERAGE for d in drawn):
        included = [e for e in entries if e.source is not EntrySource.OVERAGE]
        taken = sum(
            (d.amount for d in drawn if by_id[d.entry_id].source is not EntrySource.OVERAGE), ZERO
        )
        assert taken == ref_available(included, instant)


@PROPERTY
@given(entry_sets(), quantities, instants, st.randoms(use_true_random=False))
def test_draw_ignores_input_order(
    entries: list[Entry], quantity: Decimal, instant: datetime, rnd: random.Random
) -> None:
    assume(ref_available(entries, instant) >= quantity)
    shuffled = entries[:]
    rnd.shuffle(shuffled)
    assert draw(shuffled, quantity, instant, "f") == draw(entries, quantity, instant, "f")


@PROPERTY
@given(entry_sets(), instants)
def test_balances_match_design(entries: list[Entry], instant: datetime) -> None:
    granted, balance, limit, used_overage = ref_credits(entries, instant)
    credits = feature_credits(entries, instant)
    assert (credits.granted, credits.balance, credits.used_overage) == (
        granted,
        balance,
        used_overage,
    )
    assert (credits.overage_limit or ZERO) == limit
    has_overage = any(e.source is EntrySource.OVERAGE and ref_usable(e, instant) for e in entries)
    if has_overage:
        assert credits.overage_limit == limit
    assert available(entries, instant) == ref_available(entries, instant)
    assert remaining_allowance(entries, instant) == balance + limit - used_overage


def test_apply_draw_bounds() -> None:
    e = entry("e", 5, used=2)
    assert apply_draw(e, Decimal(3)).used == 5
    assert apply_draw(e, Decimal("0.5")).balance == Decimal("2.5")
    for bad in (Decimal(0), Decimal(-1), Decimal("3.01")):
        with pytest.raises(ValueError):
            apply_draw(e, bad)


# ---------------------------------------------------------------------------------------------
# PATCH and void
# ---------------------------------------------------------------------------------------------


def test_patch_rules() -> None:
    now = at(5)
    e = entry("e", 10, start=at(0), until=at(20), used=4)
    sooner = patch(e, now, effective_until=at(6))
    assert sooner.effective_until == at(6) and sooner.used == 4 and sooner.granted == 10
    assert patch(e, now, granted=Decimal(4)).balance == 0  # granted may fall to what is used
    assert patch(e, now, granted=Decimal(50)).balance == 46
    both = patch(e, now, effective_until=at(30), granted=Decimal("7.5"))
    assert (both.effective_until, both.granted) == (at(30), Decimal("7.5"))
    assert patch(entry("open", 1), now, effective_until=at(8)).effective_until == at(8)
    with pytest.raises(InvalidInput, match="future"):
        patch(e, now, effective_until=now)
    with pytest.raises(InvalidInput, match="future"):
        patch(e, now, effective_until=at(1))
    with pytest.raises(InvalidInput, match="4"):
        patch(e, now, granted=Decimal("3.99"))
    with pytest.raises(InvalidInput, match="VOIDED"):
        patch(replace(e, voided=True), now, granted=Decimal(10))
    with pytest.raises(InvalidInput, match="EXPIRED"):
        patch(e, at(20), granted=Decimal(10))
    # A refused PATCH changes nothing, even the half that alone would be valid.
    with pytest.raises(InvalidInput):
        patch(e, now, effective_until=at(9), granted=Decimal(1))
    assert e == entry("e", 10, start=at(0), until=at(20), used=4)


def test_void_rules() -> None:
    now = at(5)
    e = entry("e", 10, until=at(20), used=4)
    voided = void(e, now)
    assert voided.voided and voided.status_at(now) is EntryStatus.VOIDED
    assert (voided.granted, voided.used) == (e.granted, e.used)  # the remainder is unusable
    assert void(voided, now) == voided
    assert available([voided], now) == 0
    with pytest.raises(NotEntitled):
        draw([voided], Decimal(1), now, "f")
    with pytest.raises(InvalidInput):
        void(e, at(20))  # an EXPIRED entry has nothing left to void


# ---------------------------------------------------------------------------------------------
# Random streams of grants, events, PATCHes and voids, against the reference model
# ---------------------------------------------------------------------------------------------


@dataclass
class RefEntry:
    """The model's own record of an entry: what docs/api.md says it must hold."""

    feature: str
    overage: bool
    start: datetime
    until: datetime | None
    granted: Decimal
    used: Decimal = ZERO
    voided: bool = False

    def usable(self, instant: datetime) -> bool:
        if self.voided or instant < self.start:
            return False
        return self.until is None or instant < self.until

    def sort_key(self, entry_id: str) -> tuple[int, int, datetime, datetime, str]:
        # (overage?, has an end?, end, start, id): open-ended entries after every dated one.
        end = self.until or self.start
        return (int(self.overage), int(self.until is None), end, self.start, entry_id)


class EntitlementLedger(RuleBasedStateMachine):
    """Entries of three features of one account, consumed by multi-feature events.

    The implementation's entries evolve only through the domain functions, as the service
    applies them; the model evolves by docs/api.md §6, §7 alone. After each step both must
    agree.
    """

    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.entries: dict[str, tuple[str, Entry]] = {}  # id -> (feature, entry)
        self.model: dict[str, RefEntry] = {}
        self.count = 0
        self.accepted: Decimal = ZERO

    def of_feature(self, feature: str) -> list[Entry]:
        return [e for f, e in self.entries.values() if f == feature]

    def pick(self, index: int) -> str:
        return sorted(self.entries)[index % len(self.entries)]

    @rule(
        feature=st.sampled_from(FEATURES),
        source=st.sampled_from(SOURCES),
        start=st.integers(-6, 6),
        length=st.one_of(st.none(), st.integers(1, 72)),
        granted=st.integers(0, 80).map(lambda n: Decimal(n).scaleb(-1)),
        tag=st.integers(0, 99),
    )
    def grant(
        self,
        feature: str,
        source: EntrySource,
        start: int,
        length: int | None,
        granted: Decimal,
        tag: int,
    ) -> None:
        self.count += 1
        # A random prefix so that creation order says nothing about id order.
        entry_id = f"entry.{tag:02d}.{self.count:03d}"
        begins = self.now + start * HOUR
        ends = None if length is None else begins + length * HOUR
        self.entries[entry_id] = (
            feature,
            Entry(entry_id, source, begins, ends, granted),
        )
        self.model[entry_id] = RefEntry(
            feature, source is EntrySource.OVERAGE, begins, ends, granted
        )

    @initialize(granted=st.lists(tenths, min_size=len(FEATURES), max_size=len(FEATURES)))
    def seed(self, granted: list[Decimal]) -> None:
        # An open-ended allowance per feature, so that early events are not all refused.
        for feature, amount in zip(FEATURES, granted, strict=True):
            self.grant(feature, EntrySource.ENTITLEMENT, -1, None, amount * 4, 50)

    @rule(
        wanted=st.dictionaries(
            st.sampled_from(FEATURES),
            st.integers(0, 40).map(lambda n: Decimal(n).scaleb(-1)),
            min_size=1,
            max_size=3,
        ),
        offset=st.integers(-4, 1),
    )
    def ingest(self, wanted: dict[str, Decimal], offset: int) -> None:
        instant = self.now + offset * HOUR
        # Model: each feature greedily in order; the event stands only if all are covered.
        plan: list[tuple[str, Decimal]] = []
        covered = True
        for feature, quantity in wanted.items():
            usable = sorted(
                (
                    (m.sort_key(i), i)
                    for i, m in self.model.items()
                    if m.feature == feature and m.usable(instant) and m.granted > m.used
                ),
            )
            need = quantity
            for _, i in usable:
                if need == 0:
                    break
                take = min(need, self.model[i].granted - self.model[i].used)
                plan.append((i, take))
                need -= take
            covered = covered and need == 0
        # Implementation, as the service composes it: every feature drawn, or nothing written.
        drawn: list[tuple[str, Draw]] = []
        try:
            for feature in sorted(wanted):
                if wanted[feature] == 0:
                    continue
                drawn.extend(
                    (feature, d)
                    for d in draw(self.of_feature(feature), wanted[feature], instant, feature)
                )
        except NotEntitled:
            event("event refused")
            assert not covered, (wanted, instant)
            return
        event("event accepted")
        assert covered, (wanted, instant)
        got: dict[str, Decimal] = {}
        for feature, d in drawn:
            got[d.entry_id] = got.get(d.entry_id, ZERO) + d.amount
            self.entries[d.entry_id] = (feature, apply_draw(self.entries[d.entry_id][1], d.amount))
        assert got == dict(plan)
        for i, amount in plan:
            self.model[i].used += amount
        self.accepted += sum(wanted.values(), ZERO)

    @precondition(lambda self: self.entries)
    @rule(
        index=st.integers(0, 10_000),
        until=st.one_of(st.none(), st.integers(-4, 30)),
        granted_delta=st.one_of(st.none(), st.integers(-30, 30)),
    )
    def patch_entry(self, index: int, until: int | None, granted_delta: int | None) -> None:
        entry_id = self.pick(index)
        feature, current = self.entries[entry_id]
        m = self.model[entry_id]
        new_until = None if until is None else self.now + until * HOUR
        new_granted = (
            None if granted_delta is None else max(ZERO, m.used + Decimal(granted_delta) / 10)
        )
        if new_until is not None:
            # Only ask for ends after the start: docs/api.md leaves an end before it unspecified.
            assume(new_until > m.start or new_until <= self.now)
        ok = (
            not m.voided
            and (m.until is None or self.now < m.until)
            and (new_until is None or new_until > self.now)
            and (new_granted is None or new_granted >= m.used)
        )
        try:
            changed = patch(current, self.now, effective_until=new_until, granted=new_granted)
        except InvalidInput:
            event("patch refused")
            assert not ok
            return
        event("patch applied")
        assert ok
        if new_until is not None:
            m.until = new_until
        if new_granted is not None:
            m.granted = new_granted
        self.entries[entry_id] = (feature, changed)

    @precondition(lambda self: self.entries)
    @rule(index=st.integers(0, 10_000))
    def void_entry(self, index: int) -> None:
        entry_id = self.pick(index)
        feature, current = self.entries[entry_id]
        m = self.model[entry_id]
        if not m.voided and m.until is not None and self.now >= m.until:
            return  # docs/api.md says nothing of voiding an EXPIRED entry; see test_void_rules
        self.entries[entry_id] = (feature, void(current, self.now))
        m.voided = True

    @rule(hours=st.integers(1, 12))
    def advance(self, hours: int) -> None:
        self.now += hours * HOUR

    @invariant()
    def entries_agree_with_model(self) -> None:
        for entry_id, (feature, e) in self.entries.items():
            m = self.model[entry_id]
            assert (feature, e.granted, e.used) == (m.feature, m.granted, m.used)
            assert e.voided == m.voided
            assert (e.effective_from, e.effective_until) == (m.start, m.until)
            assert ZERO <= e.used <= e.granted  # never below zero, never above granted

    @invariant()
    def balances_within_bounds(self) -> None:
        total_used = ZERO
        for feature in FEATURES:
            entries = self.of_feature(feature)
            total_used += sum((e.used for e in entries), ZERO)
            for instant in (self.now, self.now - 6 * HOUR):
                credits = feature_credits(entries, instant)
                assert ZERO <= credits.balance <= credits.granted
                limit = credits.overage_limit or ZERO
                assert ZERO <= credits.used_overage <= limit  # overage never above its limit
                included = [
                    m for m in self.model.values() if m.feature == feature and m.usable(instant)
                ]
                assert credits.granted == sum((m.granted for m in included if not m.overage), ZERO)
                assert credits.used_overage == sum((m.used for m in included if m.overage), ZERO)
        assert total_used == self.accepted  # every accepted unit was drawn exactly once


EntitlementLedger.TestCase.settings = settings(
    max_examples=2 * settings.default.max_examples, stateful_step_count=40, deadline=None
)
TestEntitlementLedger = EntitlementLedger.TestCase


# ---------------------------------------------------------------------------------------------
# Cycles of plan schedules
# ---------------------------------------------------------------------------------------------

MONTHS_PER = {Cycle.MONTHLY: 1, Cycle.QUARTERLY: 3, Cycle.HALF_YEARLY: 6, Cycle.ANNUALLY: 12}


def month_length(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def ref_cycle_start(anchor: date, cycle: Cycle, n: int) -> date:
    """Start of the n-th cycle: whole weeks or months from the anchor, keeping the anchor's
    day of month (clamped to short months, never drifting)."""
    if cycle is Cycle.WEEKLY:
        return date.fromordinal(anchor.toordinal() + 7 * n)
    year, month = anchor.year, anchor.month
    for _ in range(MONTHS_PER[cycle] * n):
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return date(year, month, min(anchor.day, month_length(year, month)))


def midnight_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def ref_windows(
    anchor: date, end: date | None, cycle: Cycle, through: datetime
) -> list[tuple[date, datetime, datetime]]:
    """(start, begins, ends) of every cycle begun by `through`, clipped to the schedule's end."""
    found: list[tuple[date, datetime, datetime]] = []
    n = 0
    while True:
        start = ref_cycle_start(anchor, cycle, n)
        if midnight_of(start) > through or (end is not None and start >= end):
            return found
        stop = ref_cycle_start(anchor, cycle, n + 1)
        if end is not None and end < stop:
            stop = end
        found.append((start, midnight_of(start), midnight_of(stop)))
        n += 1


anchors = st.one_of(
    st.dates(date(2019, 1, 1), date(2031, 12, 31)),
    # Month ends and leap days, where month arithmetic goes wrong.
    st.builds(
        lambda y, m, d: date(y, m, min(d, month_length(y, m))),
        st.integers(2019, 2031),
        st.integers(1, 12),
        st.integers(28, 31),
    ),
)
cycles = st.sampled_from(list(Cycle))


@pytest.mark.parametrize(
    ("anchor", "cycle", "starts"),
    [
        (
            date(2024, 1, 31),
            Cycle.MONTHLY,
            ["2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30", "2024-05-31", "2024-06-30"],
        ),
        (date(2023, 1, 31), Cycle.MONTHLY, ["2023-01-31", "2023-02-28", "2023-03-31"]),
        (date(2024, 12, 31), Cycle.MONTHLY, ["2024-12-31", "2025-01-31", "2025-02-28"]),
        (date(2024, 3, 30), Cycle.MONTHLY, ["2024-03-30", "2024-04-30", "2024-05-30"]),
        (
            date(2023, 11, 30),
            Cycle.QUARTERLY,
            ["2023-11-30", "2024-02-29", "2024-05-30", "2024-08-30", "2024-11-30"],
        ),
        (
            date(2023, 8, 31),
            Cycle.HALF_YEARLY,
            ["2023-08-31", "2024-02-29", "2024-08-31", "2025-02-28", "2025-08-31"],
        ),
        (date(2024, 3, 31), Cycle.HALF_YEARLY, ["2024-03-31", "2024-09-30", "2025-03-31"]),
        (
            date(2024, 2, 29),
            Cycle.ANNUALLY,
            ["2024-02-29", "2025-02-28", "2026-02-28", "2027-02-28", "2028-02-29"],
        ),
        (date(2024, 12, 30), Cycle.WEEKLY, ["2024-12-30", "2025-01-06", "2025-01-13"]),
    ],
)
def test_cycle_starts_examples(anchor: date, cycle: Cycle, starts: list[str]) -> None:
    assert [cycle_start(anchor, cycle, n).isoformat() for n in range(len(starts))] == starts


@PROPERTY
@given(anchors, cycles)
def test_cycle_starts_match_design(anchor: date, cycle: Cycle) -> None:
    starts = [cycle_start(anchor, cycle, n) for n in range(40)]
    assert starts == [ref_cycle_start(anchor, cycle, n) for n in range(40)]
    assert starts[0] == anchor
    assert all(a < b for a, b in itertools.pairwise(starts))
    for start in starts:
        if cycle is Cycle.WEEKLY:
            assert start.weekday() == anchor.weekday()
        else:
            assert start.day == min(anchor.day, month_length(start.year, start.month))


@PROPERTY
@given(
    anchors,
    cycles,
    st.one_of(st.none(), st.integers(1, 800)),
    st.integers(-40, 1500),
    st.integers(0, 24 * 3600 - 1),
)
def test_cycle_containing_matches_design(
    anchor: date, cycle: Cycle, length: int | None, day: int, second: int
) -> None:
    end = None if length is None else anchor + timedelta(days=length)
    instant = midnight_of(anchor) + timedelta(days=day, seconds=second)
    expected = [w for w in ref_windows(anchor, end, cycle, instant) if instant < w[2]]
    got = cycle_containing(anchor, end, cycle, instant)
    if not expected:
        event("outside the schedule")
        assert got is None
    else:
        assert len(expected) == 1
        assert got == CycleWindow(*expected[0])


@PROPERTY
@given(anchors, cycles, st.one_of(st.none(), st.integers(1, 800)), st.integers(-40, 1500))
def test_cycles_begun_matches_design(
    anchor: date, cycle: Cycle, length: int | None, hours_in: int
) -> None:
    end = None if length is None else anchor + timedelta(days=length)
    until = midnight_of(anchor) + timedelta(hours=hours_in * 13)
    every = [CycleWindow(*w) for w in ref_windows(anchor, end, cycle, until)]
    # One read makes at most MAX_CYCLES_PER_READ cycles: the latest ones.
    expected = every[-MAX_CYCLES_PER_READ:]
    assert cycles_begun(anchor, end, cycle, until) == expected
    assert cycles_begun(anchor, end, cycle, until, limit=10_000) == every
    # Begun cycles tile the schedule without gap or overlap.
    for a, b in itertools.pairwise(expected):
        assert a.ends == b.begins


def test_cycle_boundaries() -> None:
    anchor = date(2024, 1, 31)
    feb = cycle_containing(anchor, None, Cycle.MONTHLY, datetime(2024, 2, 29, tzinfo=UTC))
    assert feb == CycleWindow(
        date(2024, 2, 29),
        datetime(2024, 2, 29, tzinfo=UTC),
        datetime(2024, 3, 31, tzinfo=UTC),
    )
    just_before = datetime(2024, 2, 29, tzinfo=UTC) - timedelta(microseconds=1)
    jan = cycle_containing(anchor, None, Cycle.MONTHLY, just_before)
    assert jan is not None and jan.start == anchor
    assert cycle_containing(anchor, None, Cycle.MONTHLY, just_before - timedelta(days=30)) is None
    # A schedule ending mid-cycle clips its last window; at the end instant there is none.
    end = date(2024, 3, 10)
    last = cycle_containing(anchor, end, Cycle.MONTHLY, datetime(2024, 3, 9, 23, tzinfo=UTC))
    assert last == CycleWindow(
        date(2024, 2, 29), datetime(2024, 2, 29, tzinfo=UTC), datetime(2024, 3, 10, tzinfo=UTC)
    )
    assert cycle_containing(anchor, end, Cycle.MONTHLY, datetime(2024, 3, 10, tzinfo=UTC)) is None
    begun = cycles_begun(anchor, end, Cycle.MONTHLY, datetime(2030, 1, 1, tzinfo=UTC))
    assert [w.start for w in begun] == [date(2024, 1, 31), date(2024, 2, 29)]


def test_half_yearly_windows_clamp_at_month_ends() -> None:
    """HALF_YEARLY (the client's enum value) is six months, anchored and clamped like the
    other month-based cycles: from 31 August, February's last day, then 31 August again."""
    anchor = date(2023, 8, 31)
    until = datetime(2025, 9, 1, tzinfo=UTC)
    begun = cycles_begun(anchor, None, Cycle.HALF_YEARLY, until)
    assert [(w.begins.date(), w.ends.date() if w.ends else None) for w in begun] == [
        (date(2023, 8, 31), date(2024, 2, 29)),
        (date(2024, 2, 29), date(2024, 8, 31)),
        (date(2024, 8, 31), date(2025, 2, 28)),
        (date(2025, 2, 28), date(2025, 8, 31)),
        (date(2025, 8, 31), date(2026, 2, 28)),
    ]
    # The cycle holding an instant, found without walking the earlier ones.
    leap = cycle_containing(anchor, None, Cycle.HALF_YEARLY, datetime(2024, 8, 30, 23, tzinfo=UTC))
    assert leap == CycleWindow(
        date(2024, 2, 29), datetime(2024, 2, 29, tzinfo=UTC), datetime(2024, 8, 31, tzinfo=UTC)
    )
    # A schedule ending inside a half-year clips that cycle.
    end = date(2024, 5, 1)
    clipped = cycles_begun(anchor, end, Cycle.HALF_YEARLY, until)
    assert [w.ends for w in clipped] == [
        datetime(2024, 2, 29, tzinfo=UTC),
        datetime(2024, 5, 1, tzinfo=UTC),
    ]
    assert Cycle("HALF_YEARLY") is Cycle.HALF_YEARLY


def test_schedules_at_the_calendar_ends() -> None:
    first, last = date(1, 1, 1), date(9999, 12, 31)
    far = datetime(9999, 12, 31, 23, 59, tzinfo=UTC)
    # Closed on the day it began (a plan change at 0001-01-01): no cycle, no overflow.
    assert cycles_begun(first, first, Cycle.WEEKLY, far) == []
    assert cycle_containing(first, first, Cycle.WEEKLY, far) is None
    begun = cycles_begun(first, date(1, 1, 2), Cycle.MONTHLY, far)
    assert begun == [CycleWindow(first, midnight_of(first), midnight_of(date(1, 1, 2)))]
    # The calendar's last cycle has no successor: it runs without end.
    for cycle in Cycle:
        window = cycle_containing(last, None, cycle, far)
        assert window == CycleWindow(last, midnight_of(last), None)
        assert cycles_begun(last, None, cycle, far) == [window]
        assert len(cycles_begun(date(9990, 1, 1), None, cycle, far)) <= MAX_CYCLES_PER_READ


def test_reach_back_is_bounded() -> None:
    now = datetime(2030, 6, 15, 12, tzinfo=UTC)
    check_reach(now - MAX_REACH_BACK, now, "effectiveFrom")
    check_reach(now + timedelta(days=10_000), now, "effectiveFrom")
    check_reach(datetime(1, 1, 1, tzinfo=UTC), datetime(1, 6, 1, tzinfo=UTC), "timestamp")
    # A day is accepted when it is the earliest instant's day.
    check_reach(date(2029, 6, 14), now, "effectiveFrom")
    with pytest.raises(InvalidInput, match="earliest accepted is 2029-06-14 "):
        check_reach(date(2029, 6, 13), now, "effectiveFrom")
    just_too_far = now - MAX_REACH_BACK - timedelta(microseconds=1)
    for too_far in (just_too_far, datetime(1, 1, 1, tzinfo=UTC)):
        with pytest.raises(InvalidInput, match="effectiveFrom reaches too far back"):
            check_reach(too_far, now, "effectiveFrom")


def test_plan_and_purchase_entry_ids() -> None:
    start = date(2024, 1, 31)
    sch = "sch.0ujsswThIGT.ZxYwV"
    assert plan_entry_id(sch, start, EntrySource.PRICE_PLAN) == f"{sch}#2024-01-31$PRICE_PLAN"
    assert plan_entry_id(sch, start, EntrySource.OVERAGE) == f"{sch}#2024-01-31$OVERAGE"
    assert purchase_entry_id("purchase.abc.def", 2) == "purchase.abc.def#2$PURCHASE"
    assert len(plan_entry_id(sch, start, EntrySource.PRICE_PLAN)) <= 50


@pytest.mark.parametrize(
    ("text", "parts"),
    [("P30D", (0, 0, 30)), ("P1M", (0, 1, 0)), ("P1Y2M", (1, 2, 0)), ("P2W", (0, 0, 14))],
)
def test_parse_validity(text: str, parts: tuple[int, int, int]) -> None:
    assert parse_validity(text) == parts


@pytest.mark.parametrize("text", ["P", "30D", "P1.5D", "PT1H", "p1m", "", "P-1D"])
def test_parse_validity_rejects(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_validity(text)


def test_add_validity() -> None:
    jan31 = datetime(2024, 1, 31, 10, 30, tzinfo=UTC)
    assert add_validity(jan31, "P1M") == datetime(2024, 2, 29, 10, 30, tzinfo=UTC)
    assert add_validity(jan31, "P30D") == datetime(2024, 3, 1, 10, 30, tzinfo=UTC)
    assert add_validity(jan31, "P1Y") == datetime(2025, 1, 31, 10, 30, tzinfo=UTC)
    assert add_validity(jan31, "P2W") == datetime(2024, 2, 14, 10, 30, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# Entitlement values
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value_type", "allowed", "value", "ok"),
    [
        (ValueType.BOOLEAN, None, "true", True),
        (ValueType.BOOLEAN, None, "false", True),
        (ValueType.BOOLEAN, None, "True", False),
        (ValueType.BOOLEAN, None, "yes", False),
        (ValueType.BOOLEAN, None, "1", False),
        (ValueType.NUMERIC, None, "10", True),
        (ValueType.NUMERIC, None, "2.5", True),
        (ValueType.NUMERIC, None, "-3", True),
        (ValueType.NUMERIC, None, "ten", False),
        (ValueType.NUMERIC, None, "", False),
        (ValueType.NUMERIC, None, "1,000", False),
        (ValueType.NUMERIC, None, "NaN", False),
        (ValueType.NUMERIC, None, "Infinity", False),
        (ValueType.ENUM, ["basic", "pro"], "pro", True),
        (ValueType.ENUM, ["basic", "pro"], "Pro", False),
        (ValueType.ENUM, ["basic", "pro"], "enterprise", False),
        (ValueType.ENUM, None, "pro", False),
        (ValueType.STRING, None, "custom", True),
        (ValueType.STRING, None, "", True),
    ],
)
def test_check_value(
    value_type: ValueType, allowed: list[str] | None, value: str, ok: bool
) -> None:
    if ok:
        assert check_value(value_type, allowed, value) == value
    else:
        with pytest.raises(InvalidInput):
            check_value(value_type, allowed, value)


@pytest.mark.parametrize(
    ("value_type", "held", "asked", "ok"),
    [
        (ValueType.BOOLEAN, "true", "true", True),
        (ValueType.BOOLEAN, "true", "anything", True),
        (ValueType.BOOLEAN, "false", "true", False),
        (ValueType.BOOLEAN, "false", "false", True),
        (ValueType.NUMERIC, "10", "10", True),
        (ValueType.NUMERIC, "10", "10.0", True),
        (ValueType.NUMERIC, "10", "9.99", True),
        (ValueType.NUMERIC, "10", "10.01", False),
        (ValueType.NUMERIC, "10", "9", True),  # numerically, not as text ("9" > "10")
        (ValueType.NUMERIC, "20", "100", False),
        (ValueType.NUMERIC, "10", "many", False),
        (ValueType.ENUM, "pro", "pro", True),
        (ValueType.ENUM, "pro", "basic", False),
        (ValueType.STRING, "custom", "custom", True),
        (ValueType.STRING, "custom", "Custom", False),
    ],
)
def test_is_satisfied_by_held_value(value_type: ValueType, held: str, asked: str, ok: bool) -> None:
    assert is_satisfied(value_type, held, asked, None) is ok
    # A set value decides, whatever is left of metered credits.
    assert is_satisfied(value_type, held, asked, Decimal(1000)) is ok


@PROPERTY
@given(
    st.sampled_from(list(ValueType)),
    st.integers(0, 500).map(lambda n: Decimal(n).scaleb(-1)),
    st.integers(0, 500).map(lambda n: Decimal(n).scaleb(-1)),
)
def test_metered_check_is_quantity_within_allowance(
    value_type: ValueType, asked: Decimal, remaining: Decimal
) -> None:
    assert is_satisfied(value_type, None, str(asked), remaining) is (asked <= remaining)
    assert metered_value(remaining) == ("true" if remaining > 0 else "false")


@PROPERTY
@given(st.integers(0, 10**14), st.integers(0, 10**6))
def test_metered_check_agrees_with_the_gate(units: int, remaining_units: int) -> None:
    """Validate and the gate read a quantity with the same rule (rounded half-even to 10
    places): validate says yes exactly when the gate's draw would be covered."""
    asked = format(Decimal(units).scaleb(-14), "f")  # 14 fractional digits: rounding matters
    remaining = Decimal(remaining_units).scaleb(-4)
    [gate_quantity] = quantities_of({"n": asked}, [("f", "n")]).values()
    assert is_satisfied(ValueType.NUMERIC, None, asked, remaining) is (gate_quantity <= remaining)


def test_metered_and_unheld_values() -> None:
    assert is_satisfied(ValueType.BOOLEAN, None, "true", Decimal("0.1")) is True
    assert is_satisfied(ValueType.BOOLEAN, None, "true", ZERO) is False
    assert is_satisfied(ValueType.NUMERIC, None, "1", None) is False  # holds nothing at all
    assert is_satisfied(ValueType.BOOLEAN, None, "true", None) is False


def test_an_entry_made_or_moved_past_its_invariant_is_refused_where_it_happens() -> None:
    from grantledger.domain.errors import LedgerInvariantBroken

    start = datetime(2026, 1, 1, tzinfo=UTC)
    e = Entry("e", EntrySource.ENTITLEMENT, start, None, Decimal(5)).checked()
    with pytest.raises(LedgerInvariantBroken):
        replace(e, used=Decimal(6)).checked()
    with pytest.raises(LedgerInvariantBroken):
        Entry("e", EntrySource.ENTITLEMENT, start, start - timedelta(days=1), Decimal(5)).checked()
    assert replace(e, used=Decimal(6)).balance == Decimal(-1)  # a row as read: not checked


def test_drawable_is_nothing_once_voided_or_ended() -> None:
    start = datetime(2026, 2, 1, tzinfo=UTC)
    entry = Entry("e", EntrySource.ENTITLEMENT, start, start + timedelta(days=10), Decimal(10))
    used = apply_draw(entry, Decimal(3))
    assert drawable(used, start - timedelta(days=1)) == 7  # not begun: it will be drawn from
    assert drawable(used, start + timedelta(days=9)) == 7
    assert drawable(used, start + timedelta(days=10)) == 0  # ended
    assert drawable(void(used, start), start) == 0
