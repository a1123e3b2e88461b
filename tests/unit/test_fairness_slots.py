"""The fair shares of a busy process (api/fairness.Slots): a tenant holds at most its share,
a freed slot goes to the tenant with the fewest in flight, a wait is bounded."""

from __future__ import annotations

import asyncio

from grantledger.api.fairness import Slots


def test_a_flooding_tenant_holds_its_share_and_a_quiet_one_starts_at_once() -> None:
    async def scenario() -> None:
        slots = Slots(limit=4, share=2)
        assert await slots.acquire("noisy", 1) and await slots.acquire("noisy", 1)
        queued = [asyncio.create_task(slots.acquire("noisy", 5)) for _ in range(3)]
        await asyncio.sleep(0.01)
        assert not any(t.done() for t in queued)  # past its share: they wait
        assert await slots.acquire("quiet", 0.01)  # a slot is free for someone else: at once
        slots.release("noisy")
        await asyncio.sleep(0.01)
        assert sum(t.done() for t in queued) == 1  # the freed one goes to the next of noisy
        slots.release("quiet")
        await asyncio.sleep(0.01)
        assert sum(t.done() for t in queued) == 1  # noisy is at its share: the slot stays free
        assert slots.total == 2
        for _ in range(2):
            slots.release("noisy")
        await asyncio.gather(*queued)

    asyncio.run(scenario())


def test_freed_slots_go_to_the_tenant_with_the_fewest_in_flight() -> None:
    async def scenario() -> None:
        slots = Slots(limit=2, share=2)
        assert await slots.acquire("a", 1) and await slots.acquire("a", 1)
        a_waits = asyncio.create_task(slots.acquire("a", 5))
        await asyncio.sleep(0.01)
        b_waits = asyncio.create_task(slots.acquire("b", 5))
        await asyncio.sleep(0.01)
        slots.release("a")
        await asyncio.sleep(0.01)
        # `a` waited longer, but `b` has none in flight: `b` goes first.
        assert b_waits.done() and not a_waits.done()
        slots.release("a")
        assert await a_waits

    asyncio.run(scenario())


def test_a_wait_is_bounded_and_a_gone_waiter_leaves_no_trace() -> None:
    async def scenario() -> None:
        slots = Slots(limit=1, share=1)
        assert await slots.acquire("a", 1)
        assert not await slots.acquire("b", 0.05)  # waited in vain: 503
        gone = asyncio.create_task(slots.acquire("b", 5))
        await asyncio.sleep(0.01)
        gone.cancel()
        await asyncio.gather(gone, return_exceptions=True)
        assert slots.waiting == {}
        slots.release("a")
        assert slots.total == 0 and await slots.acquire("b", 0.01)

    asyncio.run(scenario())
