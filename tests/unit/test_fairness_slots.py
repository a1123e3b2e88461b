"""The fair shares of a busy process (api/fairness.Slots): a tenant holds at most its share
while others use the process (alone, all slots but one), a freed slot goes to the tenant with
the fewest in flight, a wait is bounded."""

from __future__ import annotations

import asyncio

from grantledger.api.fairness import ALONE_AFTER, Slots


class FakeClock:
    def __init__(self) -> None:
        self.at = 1000.0  # float-ok: seconds

    def __call__(self) -> float:  # float-ok: seconds
        return self.at


def test_a_flooding_tenant_holds_its_share_and_a_quiet_one_starts_at_once() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        slots = Slots(limit=4, share=2, clock=clock)
        assert await slots.acquire("noisy", 1) and await slots.acquire("noisy", 1)
        queued = [asyncio.create_task(slots.acquire("noisy", 5)) for _ in range(3)]
        await asyncio.sleep(0.01)
        # Alone, past its share, it takes all slots but one: the rest wait.
        assert sum(t.done() for t in queued) == 1 and slots.total == 3
        assert await slots.acquire("quiet", 0.01)  # the slot kept free: at once
        second = asyncio.create_task(slots.acquire("quiet", 5))
        await asyncio.sleep(0.01)
        assert not second.done()  # the process is full
        slots.release("noisy")
        await asyncio.sleep(0.01)
        # The freed slot goes to the tenant under its share, not to the next of noisy's.
        assert second.done() and sum(t.done() for t in queued) == 1
        for _ in range(2):
            slots.release("quiet")
        await asyncio.sleep(0.01)
        # quiet was here lately: noisy keeps to its share, the free slots stay free.
        assert sum(t.done() for t in queued) == 1 and slots.total == 2
        clock.at += ALONE_AFTER + 1  # quiet has gone: noisy is alone again
        slots.release("noisy")
        await asyncio.sleep(0.01)
        assert sum(t.done() for t in queued) == 3 and slots.total == 3
        for _ in range(3):
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


def test_a_tenant_alone_is_not_held_to_its_share() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        slots = Slots(limit=8, share=2, clock=clock)
        for _ in range(7):
            assert await slots.acquire("only", 0.01)  # all but one slot, at once
        eighth = asyncio.create_task(slots.acquire("only", 5))
        await asyncio.sleep(0.01)
        assert not eighth.done()  # the last slot is kept for another tenant
        assert await slots.acquire("other", 0.01)
        slots.release("other")
        slots.release("only")
        await asyncio.sleep(0.01)
        assert not eighth.done()  # "other" came lately: "only" is held to its share again
        clock.at += ALONE_AFTER + 1
        slots.release("only")
        assert await eighth
        for _ in range(6):
            slots.release("only")

    asyncio.run(scenario())
