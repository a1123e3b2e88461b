"""The gate, plan cycles and grants, run as use cases in-process on the world of `world.py`
(the API tier covers their wire; `tests/api/test_gate_batches.py` the batching)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from grantledger.domain.entitlements import EntrySource
from grantledger.domain.errors import Conflict, InvalidInput
from grantledger.service.context import Tenant
from grantledger.service.entitlements import entitlements, events, grants, schedules
from grantledger.service.operations.verify import verify_ledger
from tests.service.world import (
    FEATURE,
    GRANT_ACCOUNT,
    PLAN,
    PLAN_ACCOUNT,
    SetClock,
    build,
    event,
    judge,
)

Run = Callable[[Any], Any]


async def _credits(tenant: Tenant, account: str) -> tuple[Decimal, Decimal | None, Decimal]:
    found = await entitlements.feature_credits(tenant, account, FEATURE, None)
    return found.balance, found.overage_limit, found.used_overage


def test_the_world_adds_up(run: Run) -> None:
    """30 + 7 drawn from the plan's 100 (+20 overage), 20.5 from the grant of 50; the refused
    and the duplicate events drew nothing; `verify` finds every figure in the ledger."""

    async def scenario(tenant: Tenant) -> None:
        await build(tenant)
        assert await _credits(tenant, PLAN_ACCOUNT) == (Decimal(63), Decimal(20), Decimal(0))
        assert await _credits(tenant, GRANT_ACCOUNT) == (Decimal("29.5"), None, Decimal(0))
        checked = await verify_ledger(tenant.ctx)
        assert checked[2] == []

    run(scenario)


def test_an_event_is_all_or_nothing_across_its_features(run: Run) -> None:
    async def scenario(tenant: Tenant) -> None:
        await build(tenant)
        assert await judge(tenant, event("big", PLAN_ACCOUNT, "84", tenant.now())) == "NotEntitled"
        # 63 left + 20 overage: 83 is the most one event may take.
        assert await judge(tenant, event("fits", PLAN_ACCOUNT, "83", tenant.now())) == "accepted"
        assert await _credits(tenant, PLAN_ACCOUNT) == (Decimal(0), Decimal(20), Decimal(20))

    run(scenario)


def test_a_repeated_event_id_answers_how_the_original_was_decided(run: Run) -> None:
    async def scenario(tenant: Tenant) -> None:
        world = await build(tenant)
        again = event(world.event_ids[2], GRANT_ACCOUNT, "1", tenant.now())
        with pytest.raises(Conflict, match="it was refused"):
            await events.ingest_entitled(tenant, again)

    run(scenario)


def test_concurrent_events_never_draw_more_than_is_left(run: Run) -> None:
    async def scenario(tenant: Tenant) -> list[str]:
        await build(tenant)
        now = tenant.now()
        answers = await asyncio.gather(
            *(judge(tenant, event(f"race-{n}", GRANT_ACCOUNT, "1", now)) for n in range(40))
        )
        balance, _, _ = await _credits(tenant, GRANT_ACCOUNT)
        assert balance == Decimal("29.5") - answers.count("accepted")
        return sorted(set(answers))

    assert run(scenario) == ["NotEntitled", "accepted"]


def test_usage_resets_at_the_cycle_boundary(run: Run, clock: SetClock) -> None:
    async def scenario(tenant: Tenant) -> None:
        world = await build(tenant)
        next_month = world.month_start.replace(month=world.month_start.month + 1)
        clock.instant = clock.instant.replace(year=next_month.year, month=next_month.month, day=2)
        assert await _credits(tenant, PLAN_ACCOUNT) == (Decimal(100), Decimal(20), Decimal(0))

    run(scenario)


def test_a_plan_change_carries_the_running_cycle_usage(run: Run, clock: SetClock) -> None:
    async def scenario(tenant: Tenant) -> None:
        await build(tenant)
        clock.advance(timedelta(days=1))
        await schedules.assign_plan(
            tenant, PLAN_ACCOUNT, schedules.AssignInput(PLAN, tenant.now().date(), None)
        )
        # The same plan again from today: what was drawn this cycle (37) carries.
        assert (await _credits(tenant, PLAN_ACCOUNT))[0] == Decimal(63)

    run(scenario)


def test_a_direct_grant_is_replayed_by_its_key_and_refuses_price_plan(run: Run) -> None:
    async def scenario(tenant: Tenant) -> None:
        await build(tenant)
        spec = grants.GrantInput(Decimal(5), EntrySource.REFUND, None, None, "refund-1")
        first = await grants.grant_entry(tenant, GRANT_ACCOUNT, FEATURE, spec)
        again = await grants.grant_entry(tenant, GRANT_ACCOUNT, FEATURE, spec)
        assert again.entry.id == first.entry.id
        other = grants.GrantInput(Decimal(6), EntrySource.REFUND, None, None, "refund-1")
        with pytest.raises(Conflict, match="different grant"):
            await grants.grant_entry(tenant, GRANT_ACCOUNT, FEATURE, other)
        plan_like = grants.GrantInput(Decimal(1), EntrySource.PRICE_PLAN, None, None, None)
        with pytest.raises(InvalidInput, match="PRICE_PLAN"):
            await grants.grant_entry(tenant, GRANT_ACCOUNT, FEATURE, plan_like)
        assert (await _credits(tenant, GRANT_ACCOUNT))[0] == Decimal("34.5")

    run(scenario)


def test_validate_is_a_check_that_consumes_nothing(run: Run) -> None:
    async def scenario(tenant: Tenant) -> None:
        await build(tenant)
        assert await entitlements.validate(tenant, GRANT_ACCOUNT, FEATURE, "29.5")
        assert not await entitlements.validate(tenant, GRANT_ACCOUNT, FEATURE, "29.6")
        assert (await _credits(tenant, GRANT_ACCOUNT))[0] == Decimal("29.5")

    run(scenario)
