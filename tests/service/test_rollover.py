"""Rollover (an extension): what a cycle leaves of its included allowance moves into a ROLLOVER
entry valid for `maxCycles` more cycles (at most `maxUnits`), drawn first, kept by a plan
change, and never usable twice (a late event in the cycle it came from sees it as used)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from grantledger.domain.cycles import Cycle
from grantledger.domain.plans import Rollover
from grantledger.service.context import Tenant
from grantledger.service.entitlements import entitlements
from tests.service.plans import FEATURE, Metered, day
from tests.service.world import SetClock

Run = Callable[[Any], Any]


def test_unused_allowance_rolls_over_capped_for_its_cycles(run_on: Run, clock: SetClock) -> None:
    async def scenario(tenant: Tenant) -> None:
        clock.instant = day(date(2026, 3, 1), hours=1)
        m = await Metered.make(tenant)
        await m.assign(await m.plan(100, rollover=Rollover(Decimal(50), 2)), date(2026, 3, 1))
        assert await m.draw(30) == "accepted"
        clock.instant = day(date(2026, 4, 2))
        assert await m.left() == 150  # April's 100 and 50 of March's 70, capped
        assert await m.draw(60) == "accepted"  # the rolled-over 50 first, then 10 of April's
        listed = await m.entries()
        [(rolled_id, rolled)] = [(k, v) for k, v in listed.items() if k.endswith("$ROLLOVER")]
        assert rolled == (50, 0) and rolled_id.startswith("rollover#2026-03-01.")
        clock.instant = day(date(2026, 5, 2))
        # March's rollover is spent; April left 90 of which 50 roll (valid in May and June).
        assert await m.left() == 150
        clock.instant = day(date(2026, 7, 2))
        assert await m.left() == 100 + 50 + 50  # April's (to June) is gone: May's and June's
        await m.clean()

    run_on(scenario)


def test_a_late_event_in_the_cycle_sees_what_rolled_over_as_used(
    run_on: Run, clock: SetClock
) -> None:
    async def scenario(tenant: Tenant) -> None:
        clock.instant = day(date(2026, 3, 1), hours=1)
        m = await Metered.make(tenant)
        await m.assign(await m.plan(100, rollover=Rollover(None, 1)), date(2026, 3, 1))
        assert await m.draw(30) == "accepted"
        clock.instant = day(date(2026, 4, 2))
        assert await m.draw(50) == "accepted"  # from March's rolled-over 70
        # Stamped in March: March's 100 = 30 drawn then + 50 drawn as rollover; 20 are left.
        assert await m.draw(25, day(date(2026, 3, 20))) == "NotEntitled"
        assert await m.draw(20, day(date(2026, 3, 20))) == "accepted"
        assert await m.left() == 100  # the rollover's 20 left were the late event's
        await m.clean()

    run_on(scenario)


def test_a_plan_change_keeps_rolled_over_units(run_on: Run, clock: SetClock) -> None:
    async def scenario(tenant: Tenant) -> None:
        clock.instant = day(date(2026, 3, 1), hours=1)
        m = await Metered.make(tenant)
        await m.assign(await m.plan(100, rollover=Rollover(None, 1)), date(2026, 3, 1))
        assert await m.draw(40) == "accepted"
        clock.instant = day(date(2026, 4, 5))
        plain = await m.plan(10)
        await m.assign(plain, date(2026, 4, 5))
        assert await m.left() == 10 + 60
        await m.clean()

    run_on(scenario)


# A weekly plan of 40 rolling over (at most 30, for 2 cycles) assigned 17 days back (2026-02-25;
# the service tier's clock stands on 2026-03-14 12:00Z), then a monthly plan of 60 rolling over
# assigned 4 days back: the change falls inside the weekly cycle of 03-04, so that window runs on
# to 04-10 and has not closed. An event stamped before the change but arriving before it (14 h
# ago) made the weekly plan's rollover of the window of 03-04 (it had closed then); after the
# change no window rolls into that entry any more: it is spent, for reads and the gate alike.
def _weekly_then_monthly(late_units: int | None, left: int) -> Callable[[Tenant], Any]:
    async def scenario(tenant: Tenant) -> None:
        m = await Metered.make(tenant)
        weekly = await m.plan(40, None, Cycle.WEEKLY, rollover=Rollover(Decimal(30), 2))
        monthly = await m.plan(60, 0, Cycle.MONTHLY, rollover=Rollover(None, 1))
        today = tenant.now().date()
        await m.assign(weekly, today - timedelta(days=17))
        if late_units is not None:
            assert await m.draw(late_units, tenant.now() - timedelta(hours=14)) == "accepted"
        await m.assign(monthly, today - timedelta(days=4))
        assert await m.left() == left
        # The window of 03-04 runs on: nothing rolls from it, whatever the late event made.
        listed = await m.entries()
        assert all(v[1] == 0 for k, v in listed.items() if k.startswith("rollover#2026-03-04"))
        assert await m.draw(left) == "accepted"
        assert await m.left() == 0
        assert await m.draw(1) == "NotEntitled"
        await m.clean()

    return scenario


def test_rolling_weekly_then_monthly_without_a_late_event(run_on: Run) -> None:
    # The weekly window of 02-25 rolls 30 (capped); the monthly plan's cycle gives 60.
    run_on(_weekly_then_monthly(None, 30 + 60))


def test_rolling_weekly_then_monthly_after_a_late_zero_event(run_on: Run) -> None:
    """The 500 of the gate: the late event's stored rollover of 03-04 was taken for the
    monthly plan's rollover of the window that still runs (granting 60 to reads, 30 to the
    gate's row); it gives nothing now, as if the event had not come."""
    run_on(_weekly_then_monthly(0, 30 + 60))


def test_rolling_weekly_then_monthly_after_a_late_event_that_drew(run_on: Run) -> None:
    # The 5 drawn 14 h ago came out of a rollover; one allowance, used once: 5 fewer.
    run_on(_weekly_then_monthly(5, 30 + 60 - 5))


def test_a_back_dated_plan_over_the_same_windows_rolls_what_it_sells(run_on: Run) -> None:
    """A back-dated plan over the same weekly windows rolls more (50) than the plan that made
    the stored ROLLOVER entry (30): reads once showed 50 while the gate's row held 30 (a 500 on
    a drain). The new plan's rollover is an entry of its own; the one made before gives
    nothing more."""

    async def scenario(tenant: Tenant) -> None:
        m = await Metered.make(tenant)
        small = await m.plan(40, None, Cycle.WEEKLY, rollover=Rollover(Decimal(30), 2))
        large = await m.plan(80, None, Cycle.WEEKLY, rollover=Rollover(Decimal(50), 2))
        today = tenant.now().date()
        await m.assign(small, today - timedelta(days=17))
        assert await m.draw(0) == "accepted"  # makes this cycle's rollovers (30 each)
        await m.assign(large, today - timedelta(days=10))  # on a cycle start: windows stay
        left = await m.left()
        assert left == 80 + 50 + 30  # the window of 03-04 now closed by the larger plan
        assert await m.draw(left) == "accepted"
        assert await m.draw(1) == "NotEntitled"
        await m.clean()

    run_on(scenario)


@pytest.mark.parametrize("late", [False, True], ids=["no-late-event", "late-event"])
def test_what_the_changed_window_rolls_does_not_depend_on_a_late_event(
    run_on: Run, clock: SetClock, late: bool
) -> None:
    """The same weekly-then-monthly sequence, with and without a late event that made the
    weekly plan's rollovers (dated for the weekly windows): once the merged window closes
    (04-10), it rolls the monthly plan's 60 and the window of 02-25 still rolls its 30 for a
    second window — the same either way (stored entries made under the old plans once left
    the account 90 short)."""

    async def scenario(tenant: Tenant) -> None:
        m = await Metered.make(tenant)
        weekly = await m.plan(40, None, Cycle.WEEKLY, rollover=Rollover(Decimal(30), 2))
        monthly = await m.plan(60, 0, Cycle.MONTHLY, rollover=Rollover(None, 1))
        today = tenant.now().date()
        await m.assign(weekly, today - timedelta(days=17))
        if late:
            assert await m.draw(0, tenant.now() - timedelta(hours=14)) == "accepted"
        await m.assign(monthly, today - timedelta(days=4))
        clock.instant = day(date(2026, 4, 12))
        assert await m.left() == 60 + 60 + 30
        assert await m.draw(150) == "accepted"
        assert await m.draw(1) == "NotEntitled"
        await m.clean()

    run_on(scenario)


def test_a_patch_lowering_a_rollover_is_what_reads_and_the_gate_give(
    run_on: Run, clock: SetClock
) -> None:
    """A PATCH of a ROLLOVER entry's `granted` is history like any entry's: reads showed what
    its window rolled (70) while the gate held the row to 20, and a drain of what reads said
    broke the row's invariant."""

    async def scenario(tenant: Tenant) -> None:
        clock.instant = day(date(2026, 3, 1), hours=1)
        m = await Metered.make(tenant)
        await m.assign(await m.plan(100, rollover=Rollover(None, 1)), date(2026, 3, 1))
        assert await m.draw(30) == "accepted"
        clock.instant = day(date(2026, 4, 2))
        assert await m.draw(0) == "accepted"  # makes April's entries and March's rollover
        [rolled] = [k for k in await m.entries() if k.startswith("rollover#2026-03-01.")]
        await entitlements.patch_entry(tenant, m.account, FEATURE, rolled, None, Decimal(20))
        assert await m.left() == 100 + 20
        assert (await m.entries())[rolled] == (0, 20)
        assert await m.draw(120) == "accepted"
        assert await m.draw(1) == "NotEntitled"
        await m.clean()

    run_on(scenario)
