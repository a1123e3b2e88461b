"""A property over feature holds, in-process on SQLite: random holds, settles, releases,
expiries and gate events against one entry. What is held plus what is drawn never exceeds what
was granted, every answer and balance equals a model's, and `verify` finds every entry's
figures equal to a replay of the ledger."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grantledger.domain.entitlements import EntrySource
from grantledger.domain.errors import Conflict, LedgerError, NotEntitled
from grantledger.domain.feature_holds import FeatureHoldStatus
from grantledger.service.context import Tenant
from grantledger.service.entitlements import feature_holds, grants
from tests.service.plans import FEATURE, Metered
from tests.service.world import SetClock

GRANTED = Decimal(100)

Op = tuple[str, int, int]  # (kind, units, hold index or minutes)
ops = st.lists(
    st.one_of(
        st.tuples(st.just("hold"), st.integers(1, 60), st.integers(1, 30)),
        st.tuples(st.just("settle"), st.integers(0, 80), st.integers(0, 9)),
        st.tuples(st.just("release"), st.just(0), st.integers(0, 9)),
        st.tuples(st.just("wait"), st.just(0), st.integers(1, 20)),
        st.tuples(st.just("event"), st.integers(1, 40), st.just(0)),
    ),
    max_size=14,
)


@dataclass
class Held:
    hold_id: str
    units: Decimal
    expires_at: Any
    status: FeatureHoldStatus = FeatureHoldStatus.HELD


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=ops)
def test_holds_never_overdraw_and_replay_exactly(
    run: Callable[[Any], Any], clock: SetClock, steps: list[Op]
) -> None:
    async def scenario(tenant: Tenant) -> None:
        m = await Metered.make(tenant)
        spec = grants.GrantInput(GRANTED, EntrySource.ENTITLEMENT, None, None, None)
        await grants.grant_entry(tenant, m.account, FEATURE, spec)
        drawn = Decimal(0)  # settled (covered) units and accepted events
        holds: list[Held] = []

        def held_now() -> Decimal:
            now = tenant.now()
            for h in holds:
                if h.status is FeatureHoldStatus.HELD and now >= h.expires_at:
                    h.status = FeatureHoldStatus.EXPIRED
            return sum((h.units for h in holds if h.status is FeatureHoldStatus.HELD), Decimal(0))

        for kind, units, arg in steps:
            free = GRANTED - drawn - held_now()
            if kind == "hold":
                hold_id = f"h{len(holds)}"
                request = feature_holds.HoldPlacement(
                    m.account, hold_id, {FEATURE: Decimal(units)}, timedelta(minutes=arg)
                )
                got = await _outcome(feature_holds.place(tenant, request))
                if units <= free:
                    assert isinstance(got, feature_holds.FeatureHoldView), got
                    holds.append(Held(hold_id, Decimal(units), got.hold.expires_at))
                else:
                    assert isinstance(got, NotEntitled), got
            elif kind in ("settle", "release") and arg < len(holds):
                h = holds[arg]
                if kind == "settle":
                    call = feature_holds.settle(
                        tenant, m.account, h.hold_id, {FEATURE: Decimal(units)}
                    )
                else:
                    call = feature_holds.release(tenant, m.account, h.hold_id)
                got = await _outcome(call)
                if h.status is FeatureHoldStatus.HELD:
                    assert isinstance(got, feature_holds.FeatureHoldView), got
                    if kind == "settle":
                        covered = min(Decimal(units), free + h.units)
                        drawn += covered
                        shortfall = Decimal(units) - covered
                        assert (got.hold.shortfall or {}).get(FEATURE, Decimal(0)) == shortfall
                        h.status = FeatureHoldStatus.SETTLED
                    else:
                        h.status = FeatureHoldStatus.RELEASED
                elif h.status.value == {"settle": "SETTLED", "release": "RELEASED"}[kind]:
                    # Repeating the same settle (or release) answers it; other units conflict.
                    assert isinstance(got, feature_holds.FeatureHoldView | Conflict), got
                else:
                    assert isinstance(got, Conflict), got
            elif kind == "wait":
                clock.advance(timedelta(minutes=arg))
            elif kind == "event":
                outcome = await m.draw(units)
                assert outcome == ("accepted" if units <= free else "NotEntitled"), outcome
                if units <= free:
                    drawn += units
            held = held_now()
            assert held + drawn <= GRANTED
            assert await m.left() == GRANTED - drawn - held
            for h in holds:
                view = await feature_holds.get_hold(tenant, m.account, h.hold_id)
                assert view.status is h.status, (h, view)
        clock.advance(timedelta(minutes=31))  # every hold past its limit: the sweep's work
        assert await m.left() == GRANTED - drawn
        await m.clean()

    run(scenario)


async def _outcome(call: Any) -> Any:
    try:
        return await call
    except LedgerError as error:
        return error
