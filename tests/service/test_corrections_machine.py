"""A state machine over usage and its corrections (issue 20), on SQLite and PostgreSQL: events
judged by the gate (`/entitled`) and recorded by the ingestion (`/ingest`), on time and late;
plan assignments and changes, direct grants (some with an overage) and purchases; UNDO, REDO
and REDO_EVENT of any event judged so far, repeated ones included; clock moves past the
correction grace. Beside the service the test keeps its own ledger: every judgement it was
answered, with the draws it read back, and which of them a correction took back.

After every step:
- every entry's `used` is its carried usage plus the draws of the judgements still standing
  (Σ draws - Σ reversals, counted by the test, not by the service);
- every usage-window figure is the plan draws of the standing judgements dated in it;
- the account without plans shows the balance and overage a replay of those entries gives;
- no entry is used below 0 or above what it granted, and `grantledger verify` is clean.
An answer the test can predict is predicted: a second UNDO fails "already reverted", a
correction past the grace fails with Togai's reason, and a failed correction changes nothing.
A drain draws exactly what the account shows as left, and then not one unit more: whatever was
given back is available once.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from grantledger.domain.corrections import DEFAULT_CORRECTION_GRACE, PAST_CYCLE, Action, Outcome
from grantledger.domain.cycles import Cycle
from grantledger.domain.entitlements import Entry, EntrySource, PlanType
from grantledger.domain.errors import LedgerError
from grantledger.domain.plans import PlanFeature
from grantledger.domain.windows import usage_window
from grantledger.service.context import Context, Tenant
from grantledger.service.entitlements import (
    catalog,
    corrections,
    entitlements,
    events,
    grants,
    plan_view,
    schedules,
)
from grantledger.service.parties import parties
from grantledger.store.database import Database
from grantledger.store.entitlements import entries, event_log, usage
from grantledger.store.entitlements.event_log import EventLogRecord
from grantledger.store.tx import Tx
from tests.service.conftest import START
from tests.service.plans import FEATURE, Metered, wire_event
from tests.service.world import SetClock, new_tenant

T = TypeVar("T")
GRACE = DEFAULT_CORRECTION_GRACE
PLANNED = "acc"  # on BILLING plans (and grants)
DIRECT = "acc-2"  # grants and purchases only: its balance is replayed exactly
# (included, overage per cycle, cycle) of the BILLING plans the machine assigns. None rolls
# unused allowance over: a drain after a weekly rolling plan is switched mid-cycle to a monthly
# one breaks an entry's invariant in the gate, corrections or not (reported with issue 20's
# proofs); the plan machine (test_plan_machine.py) is where rollovers are proved.
PLANS = [(100, 20, Cycle.MONTHLY), (40, None, Cycle.WEEKLY), (60, 0, Cycle.MONTHLY)]
PACK = "pack"  # a PURCHASE plan of 25 units


@dataclass
class Judged:
    """One judgement of an event, as the test recorded it."""

    pk: str
    account: str
    event_id: str
    source: str
    accepted: bool
    lines: tuple[tuple[str, Decimal, datetime, bool], ...]  # (entry, amount, occurred, plan)
    reverted: bool = False


def machine_on(url: str) -> type[RuleBasedStateMachine]:
    class CorrectionsMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.loop = asyncio.new_event_loop()
            self.clock = SetClock(START)
            self.ctx = Context(Database(url), self.clock)
            self.tenant = self.run(new_tenant(self.ctx, "fix-" + secrets.token_hex(4)))
            self.m = self.run(Metered.make(self.tenant))
            self.run(
                parties.create_account(
                    self.tenant,
                    "cust",
                    parties.NewAccount(DIRECT, "Direct", "USD", "ACTIVE", {}),
                )
            )
            self.plans = [self.run(self.m.plan(i, o, c)) for i, o, c in PLANS]
            pack = PlanFeature(FEATURE, None, Decimal(25), None, None)
            self.run(
                catalog.create_plan(
                    self.tenant,
                    catalog.PlanInput(PACK, "Pack", PlanType.PURCHASE, Cycle.MONTHLY, [pack]),
                )
            )
            self.judged: dict[str, Judged] = {}  # by reference id
            self.ids: list[tuple[str, str]] = []  # (account, event id) sent, in order
            self.sent = 0
            self.asked: dict[datetime, Decimal] = {}
            # (when, entry, units) of every draw (+) and reversal (-) of the direct account,
            # dated by the test's clock when the step made it.
            self.moves: list[tuple[datetime, str, Decimal]] = []

        def run(self, work: Coroutine[Any, Any, T]) -> T:
            return self.loop.run_until_complete(work)

        def teardown(self) -> None:
            try:
                for instant, answer in self.asked.items():
                    assert self.run(self.m.left(instant)) == answer, instant
            finally:
                self.run(self.ctx.db.dispose())
                self.loop.close()

        # -- what the service says --------------------------------------------------------

        def read(self, work: Any) -> Any:
            return self.run(self.tenant.run(work))

        def standing(self, account: str, event_id: str) -> EventLogRecord | None:
            async def work(tx: Tx) -> EventLogRecord | None:
                return await event_log.latest_of(tx, account, event_id)

            found: EventLogRecord | None = self.read(work)
            return found

        def event(self, pk: str) -> EventLogRecord:
            async def work(tx: Tx) -> EventLogRecord | None:
                return await event_log.get_event(tx, pk)

            found: EventLogRecord | None = self.read(work)
            assert found is not None, pk
            return found

        def stored(self, account: str) -> dict[str, Any]:
            """Entry id → the entry exactly as its row stores it."""

            async def work(tx: Tx) -> dict[str, Any]:
                return {r.entry.id: r.entry for r in await entries.account_entries(tx, account)}

            found: dict[str, Any] = self.read(work)
            return found

        def ledger_state(self) -> Any:
            """Everything a failed correction must leave as it was."""

            async def work(tx: Tx) -> Any:
                rows = [await entries.account_entries(tx, a) for a in (PLANNED, DIRECT)]
                figures = await usage.usage_rows(tx, PLANNED)
                return (
                    [sorted((r.entry.id, r.entry) for r in found) for found in rows],
                    sorted((str(f.key), f.used) for f in figures),
                )

            return self.read(work)

        def remember(self, found: EventLogRecord) -> Judged:
            judged = Judged(
                found.pk,
                found.account_id,
                found.event_id,
                found.source,
                found.accepted,
                tuple((d.entry_id, d.amount, d.occurred_at, d.plan) for d in found.draws),
                found.reverted,
            )
            assert not judged.reverted, found
            self.judged[found.pk] = judged
            if judged.account == DIRECT:
                self.moves += [(self.clock.instant, e, amount) for e, amount, _, _ in judged.lines]
            return judged

        def reverted(self, target: Judged) -> None:
            target.reverted = True
            if target.account == DIRECT:
                self.moves += [(self.clock.instant, e, -amount) for e, amount, _, _ in target.lines]

        # -- rules ------------------------------------------------------------------------

        def next_id(self) -> str:
            self.sent += 1
            return f"ev-{self.sent}"

        def when(self, late: bool, hours: int) -> datetime:
            return self.clock.instant - timedelta(hours=hours if late else 0)

        @rule(
            account=st.sampled_from([PLANNED, DIRECT]),
            units=st.integers(0, 60),
            late=st.booleans(),
            hours=st.integers(1, 24 * 9),
        )
        def entitled(self, account: str, units: int, late: bool, hours: int) -> None:
            event_id = self.next_id()
            e = wire_event(event_id, account, str(units), self.when(late, hours))
            try:
                self.run(events.ingest_entitled(self.tenant, e))
                answered = True
            except LedgerError:
                answered = False
            found = self.standing(account, event_id)
            if found is None:  # refused before it was judged (a date out of reach): not kept
                assert not answered
                return
            self.ids.append((account, event_id))
            judged = self.remember(found)
            assert judged.accepted == answered
            drawn = sum((amount for _, amount, _, _ in judged.lines), Decimal(0))
            # The gate draws all of an event or none of it.
            assert drawn == (units if answered else 0), (units, judged)

        @rule(
            account=st.sampled_from([PLANNED, DIRECT]),
            units=st.integers(0, 60),
            late=st.booleans(),
            hours=st.integers(1, 24 * 9),
        )
        def ingest(self, account: str, units: int, late: bool, hours: int) -> None:
            event_id = self.next_id()
            e = wire_event(event_id, account, str(units), self.when(late, hours))
            [done] = self.run(events.record_usage(self.tenant, [e]))
            found = self.standing(account, event_id)
            if found is None:
                assert done.error is not None
                return
            self.ids.append((account, event_id))
            judged = self.remember(found)
            if done.error is not None:  # a plan cycle closed past its grace: recorded, refused
                assert not judged.accepted and not judged.lines
                return
            drawn = sum((amount for _, amount, _, _ in judged.lines), Decimal(0))
            # Never refused for lack of units: drawn and shortfall are all of it.
            assert drawn + sum(done.shortfall.values(), Decimal(0)) == units, (units, done)

        @rule(plan=st.integers(0, len(PLANS) - 1), offset=st.integers(-40, 20))
        def assign(self, plan: int, offset: int) -> None:
            start = self.clock.instant.date() + timedelta(days=offset)
            spec = schedules.AssignInput(self.plans[plan], start, None)
            self.run(schedules.assign_plan(self.tenant, PLANNED, spec))

        @rule(
            account=st.sampled_from([PLANNED, DIRECT]),
            units=st.integers(1, 40),
            overage=st.booleans(),
            days=st.none() | st.integers(1, 12),
        )
        def grant(self, account: str, units: int, overage: bool, days: int | None) -> None:
            until = self.clock.instant + timedelta(days=days) if days is not None else None
            source = EntrySource.OVERAGE if overage else EntrySource.ENTITLEMENT
            spec = grants.GrantInput(Decimal(units), source, None, until, None)
            self.run(grants.grant_entry(self.tenant, account, FEATURE, spec))

        @rule(account=st.sampled_from([PLANNED, DIRECT]), days=st.none() | st.integers(1, 12))
        def purchase(self, account: str, days: int | None) -> None:
            today = self.clock.instant.date()
            until = today + timedelta(days=days) if days is not None else None
            spec = grants.PurchaseInput(PACK, None, None, None, until)
            self.run(grants.purchase(self.tenant, account, spec))

        def pick(self, n: int) -> tuple[str, str]:
            return self.ids[n % len(self.ids)]

        def expected(self, account: str, event_id: str) -> tuple[Judged | None, str | None]:
            """The judgement a correction of the event acts on, and the reason it must fail
            (None: it may go through)."""
            mine = [
                j for j in self.judged.values() if (j.account, j.event_id) == (account, event_id)
            ]
            live = [j for j in mine if not j.reverted]
            target = live[-1] if live else mine[-1]
            if target.reverted:
                return target, f"event {event_id} was already reverted"
            stored = self.stored(account)
            ends = [stored[entry].effective_until for entry, _, _, _ in target.lines]
            if any(end is not None and end + GRACE <= self.clock.instant for end in ends):
                return target, PAST_CYCLE
            return target, None

        @precondition(lambda self: bool(self.ids))
        @rule(n=st.integers(0, 10_000), times=st.integers(1, 2))
        def undo(self, n: int, times: int) -> None:
            account, event_id = self.pick(n)
            for _ in range(times):  # an UNDO repeated: the second one fails, changing nothing
                target, failing = self.expected(account, event_id)
                assert target is not None
                before = self.ledger_state()
                named = wire_event(event_id, account, "0", self.clock.instant)
                done = self.run(corrections.correct(self.tenant, Action.UNDO, named, GRACE))
                event(f"UNDO {done.outcome.value}: {_why(done.reason)}")
                if failing is not None:
                    assert (done.outcome, done.reason) == (Outcome.FAILED, failing), done
                    assert self.ledger_state() == before
                    continue
                assert done.outcome is Outcome.REVERTED, done
                assert done.event.pk == target.pk and done.event.reverted
                self.reverted(target)
                # The draws stay: the event still shows every one of them.
                lines = tuple(
                    (d.entry_id, d.amount, d.occurred_at, d.plan) for d in done.event.draws
                )
                assert lines == target.lines

        @precondition(lambda self: bool(self.ids))
        @rule(n=st.integers(0, 10_000), units=st.none() | st.integers(0, 60))
        def redo(self, n: int, units: int | None) -> None:
            """REDO (units None: the same payload) or REDO_EVENT (these units instead)."""
            account, event_id = self.pick(n)
            target, failing = self.expected(account, event_id)
            assert target is not None
            first = self.event(target.pk)
            action = Action.REDO if units is None else Action.REDO_EVENT
            quantity = str(units) if units is not None else _units(first)
            named = wire_event(event_id, account, quantity, first.timestamp)
            before = self.ledger_state()
            done = self.run(corrections.correct(self.tenant, action, named, GRACE))
            event(f"{action.value} {done.outcome.value}: {_why(done.reason)}")
            if failing is not None:
                assert (done.outcome, done.reason) == (Outcome.FAILED, failing), done
            if done.outcome is Outcome.FAILED:
                # All or nothing: a refused new judgement leaves the old one standing.
                assert self.ledger_state() == before
                assert self.event(target.pk).reverted == target.reverted
                return
            assert done.outcome is Outcome.REVERTED_AND_REINGESTED, done
            assert done.replacement is not None and done.event.pk == target.pk
            self.reverted(target)
            again = self.remember(done.replacement)
            assert (again.account, again.event_id, again.source) == (
                account,
                event_id,
                target.source,
            )
            drawn = sum((amount for _, amount, _, _ in again.lines), Decimal(0))
            if again.source == "ENTITLED":
                assert again.accepted and drawn == Decimal(quantity)
            else:
                shortfall = sum(done.replacement.shortfall.values(), Decimal(0))
                assert drawn + shortfall == Decimal(quantity)

        @precondition(lambda self: bool(self.ids))
        @rule(account=st.sampled_from([PLANNED, DIRECT]))
        def drain(self, account: str) -> None:
            """Whatever the account shows as left is there once: all of it can be drawn now,
            and then not one unit more."""
            left = self.run(_left(self.tenant, account))
            for units, accepted in ((left, True), (Decimal(1), False)):
                if units == 0:
                    continue
                event_id = self.next_id()
                e = wire_event(event_id, account, str(units), self.clock.instant)
                try:
                    self.run(events.ingest_entitled(self.tenant, e))
                    answered = True
                except LedgerError:
                    answered = False
                assert answered == accepted, (account, units, left)
                found = self.standing(account, event_id)
                assert found is not None
                self.ids.append((account, event_id))
                self.remember(found)

        # Up to 20 days: far enough for entries drawn from to end more than the grace ago.
        @rule(hours=st.integers(1, 24 * 20))
        def tick(self, hours: int) -> None:
            self.clock.advance(timedelta(hours=hours))

        @rule(hours=st.integers(1, 24 * 20))
        def ask_past(self, hours: int) -> None:
            instant = self.clock.instant - timedelta(hours=hours)
            answer = self.run(self.m.left(instant))
            if instant in self.asked:
                assert answer == self.asked[instant]
            self.asked[instant] = answer

        @rule(hours=st.integers(0, 24 * 20), minutes=st.integers(1, 59))
        def ask_past_direct(self, hours: int, minutes: int) -> None:
            """`asOf` of the direct account is the replay of the draws and reversals dated
            up to that instant, on the entries in effect then."""
            at = self.clock.instant - timedelta(hours=hours, minutes=minutes)

            async def work(tx: Tx) -> Any:
                return await entries.account_entries(tx, DIRECT)

            used: dict[str, Decimal] = {}
            for when, entry_id, amount in self.moves:
                if when <= at:
                    used[entry_id] = used.get(entry_id, Decimal(0)) + amount
            balance = limit = overage = Decimal(0)
            for r in self.read(work):
                e = r.entry
                if r.created_at > at or not _in_effect(e, at):
                    continue
                if e.source is EntrySource.OVERAGE:
                    limit += e.granted
                    overage += used.get(e.id, Decimal(0))
                else:
                    balance += e.granted - used.get(e.id, Decimal(0))
            found = self.run(entitlements.feature_credits(self.tenant, DIRECT, FEATURE, at))
            assert (found.balance, found.overage_limit or 0, found.used_overage) == (
                balance,
                limit,
                overage,
            ), at

        # -- the test's own ledger against the service's ----------------------------------

        def standing_draws(self, account: str) -> dict[str, Decimal]:
            used: dict[str, Decimal] = {}
            for j in self.judged.values():
                if j.account == account and not j.reverted:
                    for entry, amount, _, _ in j.lines:
                        used[entry] = used.get(entry, Decimal(0)) + amount
            return used

        @invariant()
        def entries_are_their_standing_draws(self) -> None:
            for account in (PLANNED, DIRECT):
                drawn = self.standing_draws(account)
                stored = self.stored(account)
                assert set(drawn) <= set(stored), (drawn, stored)
                for entry_id, e in stored.items():
                    assert e.used - e.carried == drawn.get(entry_id, Decimal(0)), (entry_id, e)
                    assert 0 <= e.used <= e.granted, e

        @invariant()
        def windows_are_their_standing_plan_draws(self) -> None:
            async def work(tx: Tx) -> Any:
                plans = await plan_view.billing_schedules(tx, PLANNED)
                return plans, await usage.usage_rows(tx, PLANNED)

            plans, rows = self.read(work)
            lines = [
                (amount, occurred)
                for j in self.judged.values()
                if j.account == PLANNED and not j.reverted
                for _, amount, occurred, plan in j.lines
                if plan
            ]
            for row in rows:
                key = row.key
                window = usage_window(plans, key.begins)
                if window is None or (window.begins, window.ends) != (key.begins, key.ends):
                    continue  # a figure for a window plans have moved since (made again)
                inside = [a for a, at in lines if key.begins <= at < key.ends]
                assert row.used == sum(inside, Decimal(0)), (key, row.used, inside)

        @invariant()
        def the_direct_balance_is_a_replay(self) -> None:
            now = self.clock.instant
            drawn = self.standing_draws(DIRECT)
            balance = limit = overage = Decimal(0)
            for entry_id, e in self.stored(DIRECT).items():
                if not _in_effect(e, now):
                    continue
                used = drawn.get(entry_id, Decimal(0))
                if e.source is EntrySource.OVERAGE:
                    limit += e.granted
                    overage += used
                else:
                    balance += e.granted - used
            found = self.run(entitlements.feature_credits(self.tenant, DIRECT, FEATURE, None))
            assert (found.balance, found.overage_limit or 0, found.used_overage) == (
                balance,
                limit,
                overage,
            )

        @invariant()
        def verify_is_clean(self) -> None:
            # Answers are only stable for instants already past: move on by a microsecond.
            self.clock.advance(timedelta(microseconds=1))
            self.run(self.m.clean())

    return CorrectionsMachine


def _why(reason: str) -> str:
    """A correction's reason without the ids it names (for Hypothesis' statistics)."""
    for kind in ("already reverted", PAST_CYCLE, "refused", "reverted"):
        if kind in reason:
            return kind
    return reason


def _in_effect(e: Entry, at: datetime) -> bool:
    return (
        not e.voided
        and e.effective_from <= at
        and (e.effective_until is None or at < e.effective_until)
    )


def _units(found: EventLogRecord) -> str:
    [value] = [a["value"] for a in found.payload["attributes"] if a["name"] == "units"]
    return str(value)


async def _left(tenant: Tenant, account: str) -> Decimal:
    found = await entitlements.feature_credits(tenant, account, FEATURE, None)
    return found.balance + (found.overage_limit or Decimal(0)) - found.used_overage


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


def test_corrections_give_every_unit_back_once(database: str) -> None:
    run_state_machine_as_test(
        machine_on(database),
        settings=settings(
            # Each example drives about 25 steps through the real database: a twentieth of
            # the profile (10 under `ci`, 4 under `dev`) keeps it within seconds per database.
            max_examples=max(4, settings.default.max_examples // 20),
            stateful_step_count=25,
            deadline=None,
        ),
    )
