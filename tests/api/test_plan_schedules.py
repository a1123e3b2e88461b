"""Plan schedules under the conditions that broke them: cycles created out of order, very long
back-dated schedules, and a plan change racing the event that creates a cycle's entries."""

from __future__ import annotations

import asyncio

import httpx

from tests.api.test_entitlements_api import Metered
from tests.helpers import assign_plan, new_account, new_plan, usage_event
from tests.servers import Server


def test_entries_list_the_newest_cycle_first_however_they_were_created(
    clock: Server, api: httpx.Client
) -> None:
    clock.set_clock("2026-11-24T12:00:00Z")
    m = Metered(api)
    account = new_account(api)
    sch = assign_plan(api, account, m.plan(100, 10, cycle="WEEKLY"), "2026-11-01")["id"]
    # The event creates only the current cycle (from Nov 22nd); the list then back-fills the
    # three earlier ones, after it.
    m.consume(account, "5", "2026-11-24T11:00:00Z")
    ids = [e["id"] for e in m.entries(account)]
    starts = ["2026-11-22", "2026-11-15", "2026-11-08", "2026-11-01"]
    assert ids == [f"{sch}#{d}${source}" for d in starts for source in ("PRICE_PLAN", "OVERAGE")]


def test_long_back_dated_schedules_are_read_without_error(clock: Server, api: httpx.Client) -> None:
    """Two schedules of 1000+ weekly cycles each, assigned when they began and never read
    since: one read makes the latest 60 cycles of each (240 entries), not all 5000."""
    clock.set_clock("1970-01-06T12:00:00Z")
    m = Metered(api)
    account = new_account(api)
    plan = m.plan(7, 3, cycle="WEEKLY")
    assign_plan(api, account, plan, "1970-01-05", effectiveUntil="1995-01-02")
    clock.set_clock("1995-01-03T12:00:00Z")
    assign_plan(api, account, plan, "1995-01-02")
    clock.set_clock("2026-11-24T12:00:00Z")
    assert m.figures(account) == (7, 7, 3, 0)
    assert len(m.entries(account)) == 240
    m.consume(account, "9", "2026-11-24T11:00:00Z")
    assert m.figures(account) == (7, 0, 3, 2)
    path = f"/accounts/{account}/features/{m.feature}/entries"
    newest = api.get(path, params={"pageSize": 1}).json()
    assert newest["data"][0]["effectiveFrom"] == "2026-11-23T00:00:00Z"
    assert "nextToken" in newest


def test_a_plan_change_racing_events_leaves_only_the_new_plan(
    clock: Server, api: httpx.Client
) -> None:
    """Each account's first event of the cycle (which creates the old plan's entries) races the
    change to another plan from today: whichever commits first, the old plan's entries end at
    the change, so only the new plan's allowance is live afterwards."""
    clock.set_clock("2026-11-24T12:00:00Z")
    m = Metered(api)
    old = m.plan(100, 10, cycle="WEEKLY")
    new = new_plan(api, [{"featureId": m.feature, "creditsPerCycle": 1000}], cycle="WEEKLY")
    accounts = [new_account(api) for _ in range(30)]
    for account in accounts:
        assign_plan(api, account, old, "2026-11-01")

    async def race() -> list[httpx.Response]:
        async with httpx.AsyncClient(
            base_url=clock.base_url, headers=dict(api.headers), timeout=60
        ) as client:
            requests = []
            for account in accounts:
                event = usage_event(m.schema, account, "2026-11-24T11:00:00Z", tokens="1")
                requests.append(client.post("/entitled", json=event))
                change = {"planId": new, "effectiveFrom": "2026-11-24"}
                requests.append(client.post(f"/accounts/{account}/plans", json=change))
            return await asyncio.wait_for(asyncio.gather(*requests), timeout=120)

    answers = asyncio.run(race())
    failed = [(r.status_code, r.text) for r in answers if r.status_code != 200]
    assert not failed, failed[:4]
    for account in accounts:
        granted, _balance, overage_limit, _used = m.figures(account)
        assert granted == 1000, account
        assert overage_limit in (None, 0), account
