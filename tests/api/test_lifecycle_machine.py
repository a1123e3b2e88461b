"""A hypothesis state machine against the real server: plan assignments and changes,
purchases, events and clock moves on one account, checked after every step against an exact
model of what was sold and drawn.

The model: the plan in force gives `included` + `overage` per cycle (cycles anchored at the
schedule's start); a purchase adds to a pool without end; an event draws the included
allowance first, then purchases, then overage, or is refused whole. The usage of a cycle is
one figure, never capped: a plan change (from today) lays it on the new plan (included first,
the excess against overage, never below 0), and only a cycle boundary of the new plan resets
it. So within a cycle what was drawn never decreases, and no sequence shows more allowance than
plans and purchases sold.
Bounded: a few examples of a dozen steps, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from grantledger.domain.cycles import Cycle, cycle_containing
from grantledger.domain.days import midnight
from tests.api.test_entitlements_api import Metered
from tests.helpers import new_account, new_plan, ok_json, usage_event
from tests.servers import Server

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
PLANS = {"small": (Decimal(100), Decimal(20)), "large": (Decimal(500), Decimal(50))}
PACK = Decimal(30)  # what one unit of the purchase plan grants


class Lifecycle(RuleBasedStateMachine):
    api: httpx.Client
    server: Server
    metered: Metered
    plan_ids: dict[str, str]
    pack_plan: str

    def __init__(self) -> None:
        super().__init__()
        self.now = START
        self.server.set_clock(self.now.isoformat())
        self.account = new_account(self.api)
        self.plan: str | None = None
        self.anchor: date | None = None
        self.usage = Decimal(0)  # plan usage of the running cycle, uncapped
        self.bought = Decimal(0)
        self.bought_left = Decimal(0)

    # --- the model -------------------------------------------------------------------------

    def _cycle_start(self, at: datetime) -> date | None:
        if self.anchor is None:
            return None
        window = cycle_containing(self.anchor, None, Cycle.MONTHLY, at)
        return window.start if window is not None else None

    def _allowance(self) -> tuple[Decimal, Decimal]:
        return PLANS[self.plan] if self.plan is not None else (Decimal(0), Decimal(0))

    @property
    def included_used(self) -> Decimal:
        return min(self.usage, self._allowance()[0])

    @property
    def overage_used(self) -> Decimal:
        included, overage = self._allowance()
        return min(max(Decimal(0), self.usage - included), overage)

    # --- rules -----------------------------------------------------------------------------

    @rule(plan=st.sampled_from(sorted(PLANS)))
    def assign_from_today(self, plan: str) -> None:
        today = self.now.date()
        r = self.api.post(
            f"/accounts/{self.account}/plans",
            json={"planId": self.plan_ids[plan], "effectiveFrom": today.isoformat()},
        )
        assert r.status_code == 200, r.text
        if (plan, today) == (self.plan, self.anchor):
            return  # the same assignment again: a replay
        self.plan, self.anchor = plan, today  # the cycle's usage stays what it was

    @initialize(plan=st.sampled_from(sorted(PLANS)))
    def start_on_a_plan(self, plan: str) -> None:
        self.assign_from_today(plan)

    @rule()
    def switch_plan(self) -> None:
        """The other plan, from today: a change inside the running cycle."""
        self.assign_from_today("large" if self.plan == "small" else "small")

    @rule(units=st.integers(1, 3))
    def purchase(self, units: int) -> None:
        ok_json(
            self.api.post(
                f"/accounts/{self.account}/purchases",
                json={"pricePlanId": self.pack_plan, "quantity": units},
            )
        )
        self.bought += PACK * units
        self.bought_left += PACK * units

    @rule(quantity=st.integers(0, 160))
    def consume(self, quantity: int) -> None:
        q = Decimal(quantity)
        included, overage = self._allowance()
        free = included - self.included_used
        room = free + self.bought_left + (overage - self.overage_used)
        event = usage_event(
            self.metered.schema, self.account, self.now.isoformat(), tokens=str(quantity)
        )
        r = self.api.post("/entitled", json=event)
        if q > room:
            assert r.status_code == 403, (r.text, q, room)
            return
        assert r.status_code == 200, (r.text, q, room)
        take = min(q, free)
        from_packs = min(q - take, self.bought_left)
        self.bought_left -= from_packs
        self.usage += q - from_packs

    @rule(days=st.integers(1, 40), hours=st.integers(0, 23))
    def move_clock(self, days: int, hours: int) -> None:
        before = self._cycle_start(self.now)
        self.now += timedelta(days=days, hours=hours)
        self.server.set_clock(self.now.isoformat())
        if self._cycle_start(self.now) != before:
            self.usage = Decimal(0)

    # --- what the server must show ---------------------------------------------------------

    @invariant()
    def figures_match_what_was_sold_and_drawn(self) -> None:
        included, overage = self._allowance()
        c = ok_json(self.api.get(f"/accounts/{self.account}/features/{self.metered.feature}"))
        expected = {
            "granted": included + self.bought,
            "balance": included - self.included_used + self.bought_left,
            "usedOverage": self.overage_used,
        }
        shown = {k: Decimal(str(c[k])) for k in expected}
        assert shown == expected, (shown, expected, self.now, self.plan, self.anchor)
        if self.plan is not None:
            assert Decimal(str(c["overageLimit"])) == overage
            assert midnight(self.anchor) <= self.now  # type: ignore[arg-type]


def test_any_sequence_of_lifecycle_calls_matches_the_model(
    clock: Server, api: httpx.Client
) -> None:
    m = Metered(api)
    Lifecycle.api = api
    Lifecycle.server = clock
    Lifecycle.metered = m
    Lifecycle.plan_ids = {name: m.plan(int(inc), int(ovr)) for name, (inc, ovr) in PLANS.items()}
    Lifecycle.pack_plan = new_plan(
        api, [{"featureId": m.feature, "creditsPerCycle": int(PACK)}], "PURCHASE"
    )
    run_state_machine_as_test(
        Lifecycle,
        settings=settings(
            max_examples=10,
            stateful_step_count=16,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        ),
    )
