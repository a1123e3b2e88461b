"""The usage-window rules of `domain/windows.py`, pure: where windows begin and end across
schedules, what a plan entry gives from its window's usage, and what rolls over."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from grantledger.domain.cycles import Cycle
from grantledger.domain.days import midnight
from grantledger.domain.entitlements import Entry, EntrySource
from grantledger.domain.plans import PlanFeature, Rollover
from grantledger.domain.windows import (
    Drawn,
    PlanSchedule,
    Window,
    plan_views,
    rollover_made,
    rollover_origin,
    rollover_source_of,
    rollover_view,
    rollovers_at,
    usage_window,
    window_problems,
)

MADE = datetime(2026, 1, 1, tzinfo=UTC)


def schedule(
    sid: str,
    start: date,
    end: date | None = None,
    cycle: Cycle = Cycle.MONTHLY,
    included: int = 100,
    anchor: date | None = None,
    rollover: Rollover | None = None,
) -> PlanSchedule:
    item = PlanFeature("f", None, Decimal(included), Decimal(0), None, rollover)
    return PlanSchedule(sid, start, end, MADE, cycle, [item], anchor)


def w(begins: date, ends: date | None) -> Window:
    return Window(midnight(begins), midnight(ends) if ends else None)


def test_each_cycle_start_inside_a_schedule_begins_a_window() -> None:
    plans = [schedule("a", date(2026, 1, 10))]
    assert usage_window(plans, midnight(date(2026, 2, 3))) == w(
        date(2026, 1, 10), date(2026, 2, 10)
    )
    assert usage_window(plans, midnight(date(2026, 2, 10))) == w(
        date(2026, 2, 10), date(2026, 3, 10)
    )


def test_a_change_inside_a_cycle_runs_the_window_on_to_the_new_cycle_start() -> None:
    plans = [schedule("a", date(2026, 3, 1), date(2026, 3, 15)), schedule("b", date(2026, 3, 15))]
    merged = w(date(2026, 3, 1), date(2026, 4, 15))
    assert usage_window(plans, midnight(date(2026, 3, 2))) == merged
    assert usage_window(plans, midnight(date(2026, 4, 1))) == merged
    assert usage_window(plans, midnight(date(2026, 4, 15))) == w(
        date(2026, 4, 15), date(2026, 5, 15)
    )


def test_a_change_on_both_cycle_boundaries_begins_a_fresh_window() -> None:
    plans = [schedule("a", date(2026, 3, 1), date(2026, 4, 1)), schedule("b", date(2026, 4, 1))]
    assert usage_window(plans, midnight(date(2026, 4, 2))) == w(date(2026, 4, 1), date(2026, 5, 1))


def test_a_resumed_plan_keeps_its_month_across_a_temporary_one() -> None:
    plans = [
        schedule("a", date(2026, 3, 1), date(2026, 3, 10)),
        schedule("t", date(2026, 3, 10), date(2026, 3, 17), Cycle.WEEKLY),
        schedule("a2", date(2026, 3, 17), anchor=date(2026, 3, 1)),
    ]
    month = w(date(2026, 3, 1), date(2026, 4, 1))
    for day in (2, 12, 25):
        assert usage_window(plans, midnight(date(2026, 3, day))) == month


def test_nothing_in_force_is_no_window() -> None:
    plans = [schedule("a", date(2026, 3, 1), date(2026, 3, 5))]
    assert usage_window(plans, midnight(date(2026, 3, 6))) is None
    assert usage_window([schedule("x", date(2026, 3, 1), date(2026, 3, 1))], MADE) is None


def _group(included: int, overage: int, i: int = 0, o: int = 0) -> list[Entry]:
    own_i, own_o = Decimal(i), Decimal(o)
    at = midnight(date(2026, 3, 1))
    return [
        Entry(
            "s#d$PRICE_PLAN", EntrySource.PRICE_PLAN, at, None, Decimal(included), Decimal(own_i)
        ),
        Entry("s#d$OVERAGE", EntrySource.OVERAGE, at, None, Decimal(overage), Decimal(own_o)),
    ]


@given(
    st.integers(0, 150),
    st.integers(0, 40),
    st.integers(0, 100),
    st.integers(0, 20),
    st.integers(0, 300),
)
def test_a_plan_entry_gives_its_allowance_minus_the_windows_usage(
    included: int, overage: int, own_i: int, own_o: int, elsewhere: int
) -> None:
    own_i, own_o = min(own_i, included), min(own_o, overage)
    usage = own_i + own_o + elsewhere
    shown = plan_views(_group(included, overage, own_i, own_o), Decimal(usage))
    given_now = sum(e.balance for e in shown)
    sold_left = max(0, included + overage - usage)
    # Never more than the plan sold minus the window's usage; exactly that when the overage
    # was drawn only past the included allowance (as the gate draws it).
    assert given_now <= sold_left
    if own_o <= max(0, usage - included):
        assert given_now == sold_left
    assert all(0 <= e.carried <= e.used <= e.granted for e in shown)
    assert [e.used - e.carried for e in shown] == [own_i, own_o]


def test_usage_is_laid_on_the_included_allowance_first() -> None:
    included, overage = plan_views(_group(100, 20), Decimal(110))
    assert (included.used, included.balance) == (100, 0)
    assert (overage.used, overage.balance) == (10, 10)


def test_what_a_window_leaves_rolls_over_capped_and_for_its_cycles() -> None:
    plans = [schedule("a", date(2026, 3, 1), rollover=Rollover(Decimal(30), 2))]
    at = midnight(date(2026, 5, 5))
    sources = rollovers_at(plans, "f", at)
    assert [s.window for s in sources] == [
        w(date(2026, 4, 1), date(2026, 5, 1)),
        w(date(2026, 3, 1), date(2026, 4, 1)),
    ]
    assert sources[1].until == midnight(date(2026, 6, 1)) and sources[1].entry_id.startswith(
        "rollover#2026-03-01"
    )
    entry = rollover_view(sources[1], Decimal(90), None)
    assert (entry.granted, entry.balance) == (10, 10)  # 100 - 90 left, under the cap of 30
    assert rollover_view(sources[1], Decimal(0), None).granted == 30
    assert rollovers_at(plans, "f", midnight(date(2026, 3, 20))) == []


def test_the_replay_judges_each_draw_by_the_schedules_of_its_time() -> None:
    monthly = schedule("m", date(2026, 2, 11), included=120)
    quarterly = schedule("q", date(2026, 2, 6), cycle=Cycle.QUARTERLY, included=40)
    change = datetime(2026, 3, 14, 13, tzinfo=UTC)

    def at(instant: datetime) -> list[PlanSchedule]:
        if instant < change:
            return [monthly]
        closed = PlanSchedule("m", date(2026, 2, 11), date(2026, 2, 11), MADE, Cycle.MONTHLY, [])
        return [closed, quarterly]

    recorded = datetime(2026, 3, 14, 12, tzinfo=UTC)
    draws = [
        Drawn("f", datetime(2026, 3, 5, tzinfo=UTC), Decimal(73), recorded),
        Drawn("f", datetime(2026, 3, 14, tzinfo=UTC), Decimal(74), recorded),
    ]
    # Two monthly windows then; the later back-dated quarterly plan merging them is no excess.
    assert window_problems(at, [change], draws, lambda *_: None) == []
    late = Drawn("f", datetime(2026, 3, 20, tzinfo=UTC), Decimal(1), change + timedelta(hours=1))
    [excess] = window_problems(at, [change], [*draws, late], lambda *_: None)
    assert (excess.drawn, excess.allowed) == (148, 40)


def test_a_stored_rollover_is_its_windows_only_while_the_plans_give_that_source() -> None:
    weekly = Rollover(Decimal(30), 2)
    before = [schedule("a", date(2026, 2, 25), cycle=Cycle.WEEKLY, included=40, rollover=weekly)]
    at = midnight(date(2026, 3, 13))
    [of_0304, of_0225] = rollovers_at(before, "f", at)
    stored = rollover_made(of_0304)
    assert stored.id.startswith("rollover#2026-03-04.") and stored.granted == 30
    assert rollover_source_of(before, "f", stored) == of_0304
    # A monthly plan from 03-10 (inside the week of 03-04): that window runs on to 04-10.
    after = [
        schedule("a", date(2026, 2, 25), date(2026, 3, 10), Cycle.WEEKLY, 40, rollover=weekly),
        schedule("b", date(2026, 3, 10), included=60, rollover=Rollover(None, 1)),
    ]
    assert rollover_source_of(after, "f", stored) is None  # it has not closed: spent
    # Once it closes, its rollover is the monthly plan's, under an id of its own.
    [merged, *_] = rollovers_at(after, "f", midnight(date(2026, 4, 12)))
    assert merged.window == w(date(2026, 3, 4), date(2026, 4, 10)) and merged.entry_id != stored.id
    assert (
        rollover_origin(merged.entry_id) == rollover_origin(stored.id) == midnight(date(2026, 3, 4))
    )
    # The window of 02-25 now rolls for longer (to 05-10): a new id as well.
    moved = rollover_source_of(after, "f", rollover_made(of_0225))
    assert moved is None
    assert rollover_origin("rollover#2026-02-25$ROLLOVER") == midnight(date(2026, 2, 25))


def test_the_cap_bounds_all_that_rolls_from_a_window() -> None:
    plans = [schedule("a", date(2026, 3, 1), rollover=Rollover(Decimal(30), 1))]
    [source] = rollovers_at(plans, "f", midnight(date(2026, 4, 2)))
    # 10 drawn in the window, 5 from a rollover entry of it a plan change left behind.
    view = rollover_view(source, Decimal(10), None, others=Decimal(5))
    assert (view.granted, view.balance) == (25, 25)
    assert rollover_view(source, Decimal(95), None, others=Decimal(5)).balance == 0
