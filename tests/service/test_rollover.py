"""Rollover (an extension): what a cycle leaves of its included allowance moves into a ROLLOVER
entry valid for `maxCycles` more cycles (at most `maxUnits`), drawn first, kept by a plan
change, and never usable twice (a late event in the cycle it came from sees it as used)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

from grantledger.domain.plans import Rollover
from grantledger.service.context import Tenant
from tests.service.plans import Metered, day
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
        assert rolled == (50, 0) and "#2026-03-01$" in rolled_id
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
