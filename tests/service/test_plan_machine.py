"""A state machine over what can happen to an account on plans (some rolling unused allowance
over) — assignments (immediate, scheduled, bounded, back-dated, replayed), voids and shortened
ends of plan entries, direct grants, events (on time, late, a few seconds early), drains of
exactly what reads say is left, reads and clock moves — on SQLite and PostgreSQL. After every
step `verify` is clean: every entry's `used` is its draws, every usage figure kept is its
window's draws, and within every usage window the plan draws never exceed the largest allowance
a plan in force there sold. An `asOf` answer, once given for a past instant, never changes,
whatever was read or written since."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Coroutine, Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from grantledger.domain.cycles import Cycle
from grantledger.domain.entitlements import EntrySource
from grantledger.domain.errors import LedgerError
from grantledger.domain.plans import Rollover
from grantledger.service.context import Context
from grantledger.service.entitlements import entitlements, grants, schedules
from grantledger.store.database import Database
from tests.service.conftest import START
from tests.service.plans import FEATURE, Metered
from tests.service.world import SetClock, new_tenant

T = TypeVar("T")
PLANS = [
    (100, 20, Cycle.MONTHLY, None),
    (50, None, Cycle.MONTHLY, Rollover(Decimal(40), 2)),
    (200, 0, Cycle.WEEKLY, Rollover(None, 1)),
    (30, 10, Cycle.QUARTERLY, None),
    # A weekly plan rolling over less than it sells, and a monthly one rolling more: a change
    # from the one to the other inside a week leaves a stored ROLLOVER entry named for a window
    # that now runs on (the gate once gave it the monthly plan's rollover past its row: a 500).
    (40, None, Cycle.WEEKLY, Rollover(Decimal(30), 2)),
    (60, 0, Cycle.MONTHLY, Rollover(None, 1)),
]


def machine_on(url: str) -> type[RuleBasedStateMachine]:
    class PlanMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.loop = asyncio.new_event_loop()
            self.clock = SetClock(START)
            self.ctx = Context(Database(url), self.clock)
            tenant = self.run(new_tenant(self.ctx, "machine-" + secrets.token_hex(4)))
            self.m = self.run(Metered.make(tenant))
            self.plans = [self.run(self.m.plan(i, o, c, rollover=r)) for i, o, c, r in PLANS]
            self.asked: dict[datetime, Decimal] = {}
            self.events = 0

        def run(self, work: Coroutine[Any, Any, T]) -> T:
            return self.loop.run_until_complete(work)

        def teardown(self) -> None:
            try:
                for instant, answer in self.asked.items():
                    assert self.run(self.m.left(instant)) == answer, instant
            finally:
                self.run(self.ctx.db.dispose())
                self.loop.close()

        @property
        def today(self) -> date:
            return self.clock.instant.date()

        @rule(
            plan=st.integers(0, len(PLANS) - 1),
            offset=st.integers(-70, 30),
            length=st.none() | st.integers(1, 45),
            replay=st.booleans(),
        )
        def assign(self, plan: int, offset: int, length: int | None, replay: bool) -> None:
            start = self.today + timedelta(days=offset)
            end = start + timedelta(days=length) if length is not None else None
            key = f"k-{secrets.token_hex(3)}" if replay else None
            spec = schedules.AssignInput(self.plans[plan], start, end, key)
            first = self.run(schedules.assign_plan(self.m.tenant, self.m.account, spec))
            if replay:
                again = self.run(schedules.assign_plan(self.m.tenant, self.m.account, spec))
                assert again.id == first.id

        @rule(
            units=st.integers(1, 80),
            when=st.sampled_from(["now", "late", "early"]),
            back=st.integers(1, 24 * 60),
            ahead=st.integers(1, 9),
        )
        def draw(self, units: int, when: str, back: int, ahead: int) -> None:
            at = self.clock.instant
            if when == "late":
                at -= timedelta(hours=back)
            elif when == "early":
                at += timedelta(seconds=ahead)
            self.run(self.m.draw(units, at))

        @rule()
        def drain(self) -> None:
            # What reads say is left is what the gate gives: exactly that, then nothing more.
            left = self.run(self.m.left())
            if left > 0:
                assert self.run(self.m.draw(left)) == "accepted", left
            assert self.run(self.m.draw(1)) == "NotEntitled"

        @rule(units=st.integers(1, 40))
        def grant(self, units: int) -> None:
            spec = grants.GrantInput(Decimal(units), EntrySource.ENTITLEMENT, None, None, None)
            self.run(grants.grant_entry(self.m.tenant, self.m.account, FEATURE, spec))

        @rule(pick=st.integers(0, 1000), void=st.booleans(), hours=st.integers(1, 24 * 10))
        def void_or_shorten(self, pick: int, void: bool, hours: int) -> None:
            listed = sorted(e for e in self.run(self.m.entries()) if "#" in e)
            if not listed:
                return
            entry_id = listed[pick % len(listed)]
            tenant, account = self.m.tenant, self.m.account
            try:
                if void:
                    self.run(entitlements.void_entry(tenant, account, FEATURE, entry_id))
                else:
                    until = self.clock.instant + timedelta(hours=hours)
                    self.run(
                        entitlements.patch_entry(tenant, account, FEATURE, entry_id, until, None)
                    )
            except LedgerError:
                pass  # an expired or voided entry can no longer change: refused, nothing done

        @rule()
        def read(self) -> None:
            before = self.run(self.m.left())
            self.run(self.m.entries())
            assert self.run(self.m.left()) == before  # reading made or changed nothing

        @rule(hours=st.integers(1, 24 * 50))
        def ask_past(self, hours: int) -> None:
            instant = self.clock.instant - timedelta(hours=hours)
            answer = self.run(self.m.left(instant))
            if instant in self.asked:
                assert answer == self.asked[instant]
            self.asked[instant] = answer

        @rule(hours=st.integers(1, 24 * 20), minutes=st.integers(0, 59))
        def tick(self, hours: int, minutes: int) -> None:
            self.clock.advance(timedelta(hours=hours, minutes=minutes))

        @precondition(lambda self: bool(self.asked))
        @rule(pick=st.integers(0, 1000))
        def ask_again(self, pick: int) -> None:
            instant = sorted(self.asked)[pick % len(self.asked)]
            assert self.run(self.m.left(instant)) == self.asked[instant], instant

        @invariant()
        def verify_is_clean(self) -> None:
            # Answers are only stable for instants already past: the clock moves on by a
            # microsecond so nothing written next shares the instant just asked.
            self.clock.advance(timedelta(microseconds=1))
            self.run(self.m.clean())

    return PlanMachine


@pytest.fixture(params=["sqlite", "postgres"])
def database(
    request: pytest.FixtureRequest, sqlite_url: str, module_postgres: str | None
) -> Iterator[str]:
    if request.param == "sqlite":
        yield sqlite_url
        return
    if module_postgres is None:
        pytest.skip("PostgreSQL unreachable")
    yield module_postgres


def test_plans_cannot_be_gamed_and_as_of_never_moves(database: str) -> None:
    run_state_machine_as_test(
        machine_on(database),
        settings=settings(
            max_examples=max(4, settings.default.max_examples // 4),
            stateful_step_count=25,
            deadline=None,
        ),
    )
