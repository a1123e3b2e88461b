"""The cycle rules of `domain/cycles.py` that the plan-cycle step applies to rows: which
entries a cycle yields with the usage carried into it, which cut cycle a schedule assigned
ahead carries from, and the listing order of cycles made out of order."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from grantledger.domain.cycles import (
    Cycle,
    ScheduleTerms,
    cut_cycle_ids,
    cycle_containing,
    cycle_entries,
    listing_instants,
    windows_at,
)
from grantledger.domain.entitlements import EntrySource
from grantledger.domain.plans import PlanFeature

NOW = datetime(2026, 3, 14, 12, tzinfo=UTC)


def terms(
    sid: str = "sch.a",
    start: date = date(2026, 3, 1),
    included: Decimal | None = Decimal(100),
    overage: Decimal | None = Decimal(20),
    replaces: tuple[str, ...] = (),
    created: datetime = NOW,
    cycle: Cycle = Cycle.MONTHLY,
) -> ScheduleTerms:
    feature = PlanFeature("f", None, included, overage, None)
    return ScheduleTerms(sid, start, None, created, cycle, [feature], replaces)


@given(st.integers(0, 200))
def test_a_cycle_carries_usage_onto_the_allowance_then_the_overage(used: int) -> None:
    [window] = windows_at(terms(), NOW, NOW)
    made = {
        m.entry.source: m.entry for m in cycle_entries(terms(), window, None, {"f": Decimal(used)})
    }
    included, overage = made[EntrySource.PRICE_PLAN], made[EntrySource.OVERAGE]
    assert included.carried == min(used, 100)
    assert overage.carried == min(max(used - 100, 0), 20)
    assert included.used == included.carried and overage.used == overage.carried
    assert included.id == "sch.a#2026-03-01$PRICE_PLAN"
    assert (included.effective_from, included.effective_until) == (window.begins, window.ends)


def test_a_cycle_over_before_the_schedule_was_assigned_gives_nothing_more() -> None:
    back_dated = terms(start=date(2026, 1, 1))
    window = cycle_containing(date(2026, 1, 1), None, Cycle.MONTHLY, NOW - timedelta(days=60))
    assert window is not None
    for made in cycle_entries(back_dated, window, None, {}):
        assert made.entry.balance == 0
        assert made.created_at == NOW


def test_only_the_features_asked_are_made() -> None:
    [window] = windows_at(terms(), NOW, NOW)
    assert cycle_entries(terms(), window, {"other"}, {}) == []


def test_a_schedule_assigned_ahead_carries_from_the_cycle_its_start_cuts() -> None:
    old = terms("sch.old", start=date(2026, 1, 10))
    mid = terms("sch.new", start=date(2026, 4, 1), replaces=("sch.old",))
    [first] = windows_at(mid, datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 4, 2, tzinfo=UTC))
    assert cut_cycle_ids(mid, first, [old]) == {
        "sch.old#2026-03-10$PRICE_PLAN",
        "sch.old#2026-03-10$OVERAGE",
    }
    boundary = terms("sch.new", start=date(2026, 4, 10), replaces=("sch.old",))
    [at_boundary] = windows_at(
        boundary, datetime(2026, 4, 10, tzinfo=UTC), datetime(2026, 4, 11, tzinfo=UTC)
    )
    assert cut_cycle_ids(boundary, at_boundary, [old]) == set()
    assert cut_cycle_ids(terms(), first, [old]) == set()  # replaces nothing


def test_cycles_are_listed_by_start_whatever_order_they_were_made_in() -> None:
    later, earlier = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    ancient = datetime(1960, 1, 1, tzinfo=UTC)
    starts = [(later, "b$PRICE"), (earlier, "a"), (later, "a$OVERAGE"), (ancient, "x")]
    instants = listing_instants(starts)
    assert instants[1] == earlier
    assert instants[2] == later and instants[0] == later + timedelta(microseconds=1)
    assert instants[3] == datetime(1970, 1, 1, tzinfo=UTC)
