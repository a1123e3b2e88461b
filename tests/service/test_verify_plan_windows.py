"""`grantledger verify` would have flagged rows 1 to 6 of issue 19's audit. Each row's sequence is
played through the use cases (where today's rules give nothing more); then the extra units the
old rules let through are written behind the ledger's back, as the draw they made then, and
`verify` must name the usage window that drew more than any plan in force there sold."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from grantledger.domain.cycles import Cycle
from grantledger.service.context import Tenant
from grantledger.service.entitlements import entitlements
from grantledger.service.operations.verify import verify_ledger
from grantledger.store.tables.entitlements import draws
from grantledger.store.tx import Tx
from tests.service.plans import FEATURE, Metered, day
from tests.service.world import SetClock

Run = Callable[[Any], Any]
MARCH = date(2026, 3, 1)


@dataclass(frozen=True)
class Gamed:
    """What the old rules gave on top of what was sold: `units` more, drawn at `at`."""

    units: int
    at: datetime
    sold: int  # the most any plan in force over the window sold


async def _row_1(m: Metered, clock: SetClock) -> Gamed:
    big, small = await m.plan(160, 5), await m.plan(100, 20)
    await m.assign(big, MARCH)
    assert await m.draw(165) == "accepted"
    await m.assign(small, m.tenant.now().date())
    await m.assign(big, m.tenant.now().date())
    return Gamed(45, m.tenant.now(), 165)


async def _row_2(m: Metered, clock: SetClock) -> Gamed:
    first, second, third = await m.plan(100), await m.plan(100), await m.plan(100)
    await m.assign(first, MARCH)
    assert await m.draw(100) == "accepted"
    later = m.tenant.now().date() + timedelta(days=3)
    await m.assign(second, later)
    await m.assign(third, later)
    clock.advance(timedelta(days=4))
    return Gamed(100, m.tenant.now(), 100)


async def _row_3(m: Metered, clock: SetClock) -> Gamed:
    plan, other = await m.plan(100), await m.plan(100)
    await m.assign(plan, MARCH)
    assert await m.draw(100, day(MARCH, 2)) == "accepted"
    switch = date(2026, 3, 20)
    await m.assign(other, switch)
    clock.instant = day(switch, hours=9)
    return Gamed(100, clock.instant, 100)


async def _row_4(m: Metered, clock: SetClock) -> Gamed:
    plan, equal = await m.plan(100), await m.plan(100)
    schedule = await m.assign(plan, MARCH)
    assert await m.draw(100) == "accepted"
    entry_id = f"{schedule.id}#2026-03-01$PRICE_PLAN"
    await entitlements.void_entry(m.tenant, m.account, FEATURE, entry_id)
    await m.assign(equal, m.tenant.now().date())
    return Gamed(100, m.tenant.now(), 100)


async def _row_5(m: Metered, clock: SetClock) -> Gamed:
    plan, equal = await m.plan(100), await m.plan(100)
    await m.assign(plan, MARCH)
    assert await m.draw(50, day(MARCH, 4)) == "accepted"
    change = date(2026, 3, 15)
    clock.instant = day(change, hours=1)
    await m.assign(equal, change)
    assert await m.draw(50) == "accepted"
    # The late event stamped before the change drew the old plan's clipped entry as well.
    return Gamed(50, day(MARCH, 10), 100)


async def _row_6(m: Metered, clock: SetClock) -> Gamed:
    monthly, weekly = await m.plan(100), await m.plan(100, cycle=Cycle.WEEKLY)
    await m.assign(monthly, MARCH)
    assert await m.draw(100, day(MARCH, 1)) == "accepted"
    await m.assign(weekly, date(2026, 3, 15), date(2026, 3, 22))
    clock.instant = day(date(2026, 3, 23))
    # The monthly plan resumed with a fresh allowance in the month it had used up.
    return Gamed(100, clock.instant, 100)


ROWS: dict[str, Callable[[Metered, SetClock], Awaitable[Gamed]]] = {
    "row-1": _row_1,
    "row-2": _row_2,
    "row-3": _row_3,
    "row-4": _row_4,
    "row-5": _row_5,
    "row-6": _row_6,
}


async def _draw_behind_the_ledger(m: Metered, gamed: Gamed) -> None:
    """The old rules' extra draw: another plan draw of the account's last event, dated `at`."""

    async def tamper(tx: Tx) -> None:
        last = (
            await tx.conn.execute(
                sa.select(draws)
                .where(draws.c.org_id == tx.org_id, draws.c.plan.is_(True))
                .order_by(draws.c.created_at.desc(), draws.c.seq.desc())
                .limit(1)
            )
        ).one()
        await tx.conn.execute(
            draws.insert().values(
                {
                    **last._mapping,
                    "seq": last.seq + 1000,
                    "amount": Decimal(gamed.units),
                    "occurred_at": gamed.at,
                    "created_at": m.tenant.now(),
                }
            )
        )

    await m.tenant.run(tamper)


@pytest.mark.parametrize("row", sorted(ROWS))
def test_verify_flags_what_the_old_rules_gave(row: str, run_on: Run, clock: SetClock) -> None:
    async def scenario(tenant: Tenant) -> None:
        m = await Metered.make(tenant)
        gamed = await ROWS[row](m, clock)
        assert await m.left() == 0  # today's rules give nothing more
        await m.clean()
        await _draw_behind_the_ledger(m, gamed)
        _, _, problems = await verify_ledger(tenant.ctx, tenant.org_id)
        flagged = [p for p in problems if "more than any plan in force then sold" in p]
        assert flagged, problems
        assert any(f"({gamed.sold})" in p for p in flagged), flagged

    run_on(scenario)
