"""Plan cycles that cannot be gamed (issue 19): each row of the audit's table, on SQLite and
PostgreSQL, through the use cases. The allowance an account gets depends on what was sold,
never on the path taken; `verify` (which replays the schedules against the draws) is clean
after each."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from grantledger.domain.cycles import Cycle
from grantledger.service.context import Tenant
from grantledger.service.entitlements import entitlements
from tests.service.plans import FEATURE, Metered, day
from tests.service.world import SetClock

Run = Callable[[Any], Any]
# The service tier's clock starts on 2026-03-14 12:00Z.
MARCH = date(2026, 3, 1)


def test_row_1_a_plan_and_back_gives_nothing_more(run_on: Run) -> None:
    """Draw 165 on a 160+5 plan, change to 100+20, change back: the cycle sold 165."""

    async def scenario(tenant: Tenant) -> None:
        m = await Metered.make(tenant)
        big, small = await m.plan(160, 5), await m.plan(100, 20)
        await m.assign(big, MARCH)
        assert await m.draw(165) == "accepted"
        today = tenant.now().date()
        await m.assign(small, today)
        assert await m.left() == 0
        await m.assign(big, today)
        assert await m.left() == 0
        assert await m.draw(1) == "NotEntitled"
        await m.clean()

    run_on(scenario)


def test_row_2_a_replaced_future_change_gives_nothing_more(run_on: Run, clock: SetClock) -> None:
    """A change scheduled for a later day, replaced before anything made its first cycle."""

    async def scenario(tenant: Tenant) -> None:
        m = await Metered.make(tenant)
        first, second, third = await m.plan(100), await m.plan(100), await m.plan(100)
        await m.assign(first, MARCH)
        assert await m.draw(100) == "accepted"
        later = tenant.now().date() + timedelta(days=3)
        await m.assign(second, later)
        await m.assign(third, later)  # replaces the change before it began
        clock.advance(timedelta(days=4))
        assert await m.left() == 0
        assert await m.draw(1) == "NotEntitled"
        await m.clean()

    run_on(scenario)


def test_row_3_a_read_on_the_switch_day_changes_nothing(run_on: Run, clock: SetClock) -> None:
    """The same change made on the switch day, with and without a balance read at 08:00."""

    async def path(tenant: Tenant, read: bool) -> Decimal:
        m = await Metered.make(tenant)
        plan, other = await m.plan(100), await m.plan(100)
        await m.assign(plan, MARCH)
        assert await m.draw(100, day(MARCH, 2)) == "accepted"
        switch = date(2026, 3, 20)
        await m.assign(other, switch)
        clock.instant = day(switch, hours=8)
        if read:
            await m.left()
            await m.entries()
        clock.instant = day(switch, hours=9)
        left = await m.left()
        await m.clean()
        return left

    async def scenario(tenant: Tenant) -> tuple[Decimal, Decimal]:
        return await path(tenant, read=False), Decimal(-1)

    async def scenario_read(tenant: Tenant) -> Decimal:
        return await path(tenant, read=True)

    clock_start = clock.instant
    without, _ = run_on(scenario)
    clock.instant = clock_start
    assert without == run_on(scenario_read) == 0


def test_row_4_voiding_the_exhausted_entry_then_an_equal_plan_gives_nothing_more(
    run_on: Run,
) -> None:
    async def scenario(tenant: Tenant) -> None:
        m = await Metered.make(tenant)
        plan, equal = await m.plan(100), await m.plan(100)
        schedule = await m.assign(plan, MARCH)
        assert await m.draw(100) == "accepted"
        entry_id = f"{schedule.id}#2026-03-01$PRICE_PLAN"
        await entitlements.void_entry(tenant, m.account, FEATURE, entry_id)
        await m.assign(equal, tenant.now().date())
        assert await m.left() == 0
        await m.clean()

    run_on(scenario)


def test_row_4b_shortening_the_exhausted_entry_then_an_equal_plan_gives_nothing_more(
    run_on: Run,
) -> None:
    async def scenario(tenant: Tenant) -> None:
        m = await Metered.make(tenant)
        plan, equal = await m.plan(100), await m.plan(100)
        schedule = await m.assign(plan, MARCH)
        assert await m.draw(100) == "accepted"
        entry_id = f"{schedule.id}#2026-03-01$PRICE_PLAN"
        soon = tenant.now() + timedelta(hours=1)
        await entitlements.patch_entry(tenant, m.account, FEATURE, entry_id, soon, None)
        await m.assign(equal, tenant.now().date())
        assert await m.left() == 0
        await m.clean()

    run_on(scenario)


def test_row_5_a_late_event_from_before_a_change_counts_in_the_same_window(
    run_on: Run, clock: SetClock
) -> None:
    async def scenario(tenant: Tenant) -> None:
        m = await Metered.make(tenant)
        plan, equal = await m.plan(100), await m.plan(100)
        await m.assign(plan, MARCH)
        assert await m.draw(50, day(MARCH, 4)) == "accepted"
        change = date(2026, 3, 15)
        clock.instant = day(change, hours=1)
        await m.assign(equal, change)
        assert await m.draw(50) == "accepted"
        # Stamped before the change, arriving after it: the old plan's entry is still the
        # window's, whose 100 are drawn.
        assert await m.draw(50, day(MARCH, 10)) == "NotEntitled"
        assert await m.draw(1, day(MARCH, 10)) == "NotEntitled"
        await m.clean()

    run_on(scenario)


def test_row_6_the_monthly_plan_resumes_with_the_months_usage(run_on: Run, clock: SetClock) -> None:
    async def scenario(tenant: Tenant) -> None:
        m = await Metered.make(tenant)
        monthly, weekly = await m.plan(100), await m.plan(100, cycle=Cycle.WEEKLY)
        await m.assign(monthly, MARCH)
        assert await m.draw(100, day(MARCH, 1)) == "accepted"
        await m.assign(weekly, date(2026, 3, 15), date(2026, 3, 22))
        clock.instant = day(date(2026, 3, 23))
        # Back on the monthly plan in the same month: its 100 are drawn.
        assert await m.left() == 0
        clock.instant = day(date(2026, 4, 2))
        assert await m.left() == 100
        await m.clean()

    run_on(scenario)


def test_row_7_as_of_answers_the_same_whatever_was_read_before(
    run_on: Run, clock: SetClock
) -> None:
    async def scenario(tenant: Tenant) -> None:
        clock.instant = day(date(2026, 1, 1), hours=1)
        m = await Metered.make(tenant)
        plan = await m.plan(100, 10)
        await m.assign(plan, date(2026, 1, 1))
        clock.instant = day(date(2026, 2, 20))
        past = day(date(2026, 2, 10))
        first = await m.left(past)  # no read or write has made February's cycle
        await m.entries()
        await m.left()
        assert await m.draw(30, day(date(2026, 2, 12))) == "accepted"
        clock.advance(timedelta(hours=1))
        assert await m.left(past) == first == 110
        assert await m.left(day(date(2026, 2, 13))) == 110  # the draw was recorded later
        assert await m.left(clock.instant) == 80
        await m.clean()

    run_on(scenario)


def test_row_8_back_dated_cycles_are_real_with_what_was_drawn(run_on: Run, clock: SetClock) -> None:
    async def scenario(tenant: Tenant) -> None:
        m = await Metered.make(tenant)
        old, new = await m.plan(100), await m.plan(200)
        await m.assign(old, date(2026, 2, 1))
        assert await m.draw(60, day(date(2026, 2, 10))) == "accepted"
        schedule = await m.assign(new, date(2026, 1, 1))
        listed = await m.entries()
        # February under the new plan: 200 sold, the 60 really drawn then; January: untouched.
        assert listed[f"{schedule.id}#2026-02-01$PRICE_PLAN"] == (60, 140)
        assert listed[f"{schedule.id}#2026-01-01$PRICE_PLAN"] == (0, 200)
        assert await m.draw(150, day(date(2026, 2, 20))) == "NotEntitled"
        assert await m.draw(140, day(date(2026, 2, 20))) == "accepted"
        assert await m.draw(5, day(date(2026, 1, 20))) == "accepted"
        await m.clean()

    run_on(scenario)


def test_a_late_event_within_the_grace_period_lands_in_its_cycle_and_after_it_is_refused(
    run_on: Run, clock: SetClock
) -> None:
    async def scenario(tenant: Tenant) -> None:
        m = await Metered.make(tenant)
        plan = await m.plan(100, grace_days=3)
        await m.assign(plan, date(2026, 2, 1))
        clock.instant = day(date(2026, 3, 3), hours=12)
        assert await m.draw(10, day(date(2026, 2, 27))) == "accepted"
        clock.instant = day(date(2026, 3, 4), hours=1)
        assert await m.draw(10, day(date(2026, 2, 27))) == "NotEntitled"
        assert await m.left() == 100  # March is untouched either way
        await m.clean()

    run_on(scenario)
