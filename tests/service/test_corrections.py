"""Taking usage back (issue 20), in-process on both databases: UNDO gives every unit back
through appended reversals, REDO and REDO_EVENT judge again all or nothing, a second UNDO
fails, the grace period bounds it, and `verify` and `asOf` see the reversals."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from grantledger.domain.alerts import AlertStatus
from grantledger.domain.corrections import DEFAULT_CORRECTION_GRACE, PAST_CYCLE, Action, Outcome
from grantledger.domain.entitlements import EntrySource
from grantledger.service.context import Tenant
from grantledger.service.entitlements import corrections, event_reads, grants
from grantledger.service.entitlements.event_input import EventInput
from grantledger.service.notifications import alerts
from grantledger.service.operations.verify import verify_ledger
from grantledger.store.entitlements import event_log
from grantledger.store.entitlements.event_log import EventFilter
from grantledger.store.tables import reversals
from grantledger.store.tx import Tx
from tests.service.plans import FEATURE, Metered, day, wire_event
from tests.service.world import SetClock

Run = Callable[[Any], Any]
GRACE = DEFAULT_CORRECTION_GRACE


def _named(m: Metered, event_id: str, units: str = "1", at: Any = None) -> EventInput:
    return wire_event(event_id, m.account, units, at or m.tenant.now())


async def _grant(m: Metered, units: int, until: Any = None) -> None:
    spec = grants.GrantInput(Decimal(units), EntrySource.ENTITLEMENT, None, until, None)
    await grants.grant_entry(m.tenant, m.account, FEATURE, spec)


def test_undo_gives_every_unit_back_once(run_on: Run, clock: SetClock) -> None:
    async def scenario(tenant: Tenant) -> None:
        m = await Metered.make(tenant)
        await _grant(m, 100)
        assert await m.draw(30) == "accepted"  # ev-1
        before = tenant.now()
        clock.advance(timedelta(minutes=5))
        undone = await corrections.correct(tenant, Action.UNDO, _named(m, "ev-1"), GRACE)
        assert (undone.outcome, undone.event.reverted) == (Outcome.REVERTED, True)
        assert await m.left() == 100
        assert await m.left(before) == 70  # asOf before the correction: as it stood
        again = await corrections.correct(tenant, Action.UNDO, _named(m, "ev-1"), GRACE)
        assert (again.outcome, again.reason) == (Outcome.FAILED, "event ev-1 was already reverted")
        assert await m.left() == 100
        page = await event_reads.list_events(
            tenant, account_id=m.account, schema_name=None, status="REVERTED", after=None, limit=50
        )
        assert [e.event_id for e in page.items] == ["ev-1"]
        await m.clean()

    run_on(scenario)


def test_redo_judges_again_and_a_refusal_changes_nothing(run_on: Run, clock: SetClock) -> None:
    async def scenario(tenant: Tenant) -> None:
        m = await Metered.make(tenant)
        await _grant(m, 50)
        assert await m.draw(40) == "accepted"  # ev-1
        assert await m.draw(10) == "accepted"  # ev-2: nothing left
        corrected = _named(m, "ev-1", "45")
        # REDO_EVENT with 45: undo 40, draw 45 of 50 - 10 = 40 left → refused: nothing changes.
        failed = await corrections.correct(tenant, Action.REDO_EVENT, corrected, GRACE)
        assert failed.outcome is Outcome.FAILED and "not covered" in failed.reason
        assert not failed.event.reverted and await m.left() == 0
        fixed = _named(m, "ev-1", "25")
        redone = await corrections.correct(tenant, Action.REDO_EVENT, fixed, GRACE)
        assert redone.outcome is Outcome.REVERTED_AND_REINGESTED
        assert redone.replacement is not None and redone.replacement.event_id == "ev-1"
        assert await m.left() == 15
        # The latest judgement is what a REDO corrects next; the same payload again.
        again = await corrections.correct(tenant, Action.REDO, _named(m, "ev-1"), GRACE)
        assert again.outcome is Outcome.REVERTED_AND_REINGESTED and await m.left() == 15
        await m.clean()

    run_on(scenario)


def test_an_undo_of_a_judgement_a_redo_replaced_does_nothing(run_on: Run) -> None:
    """The console undoes the judgement its operator saw (`reference`): if a REDO replaced
    it meanwhile, the replacement is not undone in its place; the actor is kept, bounded."""

    async def scenario(tenant: Tenant) -> None:
        m = await Metered.make(tenant)
        await _grant(m, 50)
        assert await m.draw(20) == "accepted"  # ev-1
        seen = await corrections.correct(tenant, Action.REDO, _named(m, "ev-1", "20"), GRACE)
        assert seen.replacement is not None
        stale = await corrections.correct(
            tenant, Action.UNDO, _named(m, "ev-1"), GRACE, actor="key ops", reference=seen.event.pk
        )
        assert stale.outcome is Outcome.FAILED and "already reverted" in stale.reason
        assert await m.left() == 30  # the replacement still draws its 20
        named = "key " + "x" * 200
        done = await corrections.correct(
            tenant,
            Action.UNDO,
            _named(m, "ev-1"),
            GRACE,
            actor=named,
            reference=seen.replacement.pk,
        )
        assert done.outcome is Outcome.REVERTED and await m.left() == 50
        assert done.event.correction is not None and done.event.correction.actor == named[:100]
        await m.clean()

    run_on(scenario)


def test_plan_usage_is_given_back_to_its_window(run_on: Run, clock: SetClock) -> None:
    async def scenario(tenant: Tenant) -> None:
        m = await Metered.make(tenant)
        await m.assign(await m.plan(100), date(2026, 3, 1))
        assert await m.draw(100) == "accepted"  # ev-1
        assert await m.draw(1) == "NotEntitled"  # ev-2
        undone = await corrections.correct(tenant, Action.UNDO, _named(m, "ev-1"), GRACE)
        assert undone.outcome is Outcome.REVERTED
        assert await m.left() == 100
        assert await m.draw(60) == "accepted"
        assert await m.left() == 40
        await m.clean()

    run_on(scenario)


def test_past_the_grace_an_event_cannot_be_corrected(run_on: Run, clock: SetClock) -> None:
    async def scenario(tenant: Tenant) -> None:
        m = await Metered.make(tenant)
        await _grant(m, 10, until=tenant.now() + timedelta(days=1))
        assert await m.draw(4) == "accepted"  # ev-1
        clock.advance(timedelta(days=9))  # the entry ended 8 days ago
        failed = await corrections.correct(tenant, Action.UNDO, _named(m, "ev-1"), GRACE)
        assert (failed.outcome, failed.reason) == (Outcome.FAILED, PAST_CYCLE)
        assert not failed.event.reverted
        clock.advance(timedelta(days=-3))  # ended 5 days ago: within the grace
        done = await corrections.correct(tenant, Action.UNDO, _named(m, "ev-1"), GRACE)
        assert done.outcome is Outcome.REVERTED
        assert await m.left() == 0  # given back to an ended entry: expired, not available
        await m.clean()

    run_on(scenario)


def test_a_refused_event_can_be_judged_again_after_a_grant(run_on: Run) -> None:
    async def scenario(tenant: Tenant) -> None:
        m = await Metered.make(tenant)
        at = day(date(2026, 3, 14), hours=13)
        assert await m.draw(5, at) == "NotEntitled"  # ev-1
        await _grant(m, 10)  # effective from now (12:00), before the event
        redone = await corrections.correct(tenant, Action.REDO, _named(m, "ev-1", at=at), GRACE)
        assert redone.outcome is Outcome.REVERTED_AND_REINGESTED
        assert await m.left() == 5
        await m.clean()

    run_on(scenario)


def test_verify_reports_a_correction_that_does_not_mirror_its_event(run_on: Run) -> None:
    async def scenario(tenant: Tenant) -> None:
        m = await Metered.make(tenant)
        await _grant(m, 10)
        assert await m.draw(4) == "accepted"  # ev-1
        assert await m.draw(2) == "accepted"  # ev-2
        await corrections.correct(tenant, Action.UNDO, _named(m, "ev-1"), GRACE)
        await m.clean()

        async def tamper(tx: Tx) -> None:
            # A reversal made larger behind the ledger's back, and one of an uncorrected event.
            await tx.conn.execute(
                reversals.update().where(reversals.c.org_id == tx.org_id).values(amount=Decimal(5))
            )
            [ev2] = [
                e
                for e in (await event_log.list_events(tx, EventFilter(m.account), None, 50)).items
                if e.event_id == "ev-2"
            ]
            await event_log.insert_reversals(tx, ev2, ev2.draws, tenant.now())

        await tenant.run(tamper)
        _, _, problems = await verify_ledger(tenant.ctx, tenant.org_id)
        text = "\n".join(problems)
        assert "does not reverse a draw of a corrected event" in text
        assert text.count("does not reverse") == 2, text
        assert "used is" in text  # the entry's figure no longer matches either

    run_on(scenario)


def test_an_undo_that_lifts_a_balance_back_over_a_threshold_resolves_its_incident(
    run_on: Run,
) -> None:
    async def scenario(tenant: Tenant) -> None:
        m = await Metered.make(tenant)
        await _grant(m, 10)
        await alerts.create(
            tenant,
            alerts.AlertInput(
                "feature_balance_below",
                60,
                AlertStatus.ACTIVE,
                entity_details={"account": {"id": m.account}, "feature": {"id": FEATURE}},
                parameters={"threshold": {"amount": "5"}},
            ),
        )
        assert await m.draw(8) == "accepted"  # ev-1: 2 left, below 5
        page = await alerts.list_incidents(tenant, None, 50, alert_id=None, status=None)
        assert [i.status for i in page.items] == ["OPEN"]
        await corrections.correct(tenant, Action.UNDO, _named(m, "ev-1"), GRACE)
        page = await alerts.list_incidents(tenant, None, 50, alert_id=None, status=None)
        assert [i.status for i in page.items] == ["RESOLVED"]

    run_on(scenario)
