"""Event ids are remembered for as long as an event with their timestamp could be accepted, and
a few seconds of a producer's clock skew never burn an id at a cycle boundary."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest

from grantledger.domain.errors import Conflict
from grantledger.service.context import Tenant
from grantledger.service.entitlements import events
from grantledger.service.entitlements.event_input import EventInput
from tests.service.plans import SCHEMA, Metered, day
from tests.service.world import SetClock

Run = Callable[[Any], Any]


def _event(m: Metered, event_id: str, at: Any) -> EventInput:
    return EventInput(SCHEMA, event_id, at, m.account, [("units", "10")], {})


def test_an_id_sent_again_on_day_46_is_not_drawn_twice(run_on: Run, clock: SetClock) -> None:
    async def scenario(tenant: Tenant) -> None:
        m = await Metered.make(tenant)
        await m.assign(await m.plan(1000), date(2026, 1, 1))
        stamped = tenant.now() - timedelta(days=10)
        await events.ingest_entitled(tenant, _event(m, "once", stamped))
        for later in (46, 300):
            clock.instant = day(date(2026, 3, 14)) + timedelta(days=later)
            with pytest.raises(Conflict, match="was already received; it was accepted"):
                await events.ingest_entitled(tenant, _event(m, "once", stamped))
        await m.clean()

    run_on(scenario)


def test_a_few_seconds_of_skew_at_a_cycle_boundary_land_in_the_new_cycle(
    run_on: Run, clock: SetClock
) -> None:
    async def scenario(tenant: Tenant) -> None:
        m = await Metered.make(tenant)
        await m.assign(await m.plan(100), date(2026, 3, 1))
        assert await m.draw(100, day(date(2026, 3, 20))) == "accepted"
        clock.instant = day(date(2026, 4, 1)) - timedelta(seconds=3)
        # Stamped 5 s ahead of the server: April's cycle, not a refusal that burns the id.
        assert await m.draw(60, day(date(2026, 4, 1)) + timedelta(seconds=2)) == "accepted"
        clock.instant = day(date(2026, 4, 1), hours=1)
        assert await m.left() == 40
        entries = await m.entries()
        assert any(e.endswith("#2026-04-01$PRICE_PLAN") for e in entries)
        await m.clean()

    run_on(scenario)


def test_past_the_skew_a_cycle_not_begun_is_not_drawn(run_on: Run, clock: SetClock) -> None:
    async def scenario(tenant: Tenant) -> None:
        m = await Metered.make(tenant)
        await m.assign(await m.plan(100), date(2026, 3, 1))
        assert await m.draw(100, day(date(2026, 3, 20))) == "accepted"
        clock.instant = day(date(2026, 4, 1)) - timedelta(minutes=5)
        assert await m.draw(1, day(date(2026, 4, 1)) + timedelta(seconds=2)) == "NotEntitled"
        await m.clean()

    run_on(scenario)
