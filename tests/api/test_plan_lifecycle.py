"""Plan assignment lifecycle: replays and idempotency keys, a plan change carrying the running
cycle's usage, and the re-assignment edge cases (same start, a bounded plan inside a longer one,
back-dating across many cycles). Each runs on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.test_entitlements_api import Metered
from tests.helpers import assign_plan, error_message, new_account, new_plan
from tests.servers import Server


def _plans(api: httpx.Client, account: str) -> dict[str, dict[str, Any]]:
    r = api.get(f"/accounts/{account}/plans")
    assert r.status_code == 200, r.text
    return {s["id"]: s for s in r.json()["data"]}


def test_the_same_assignment_again_is_a_replay(clock: Server, api: httpx.Client) -> None:
    """The issue's case: re-posting turned "balance 0, usedOverage 100" into "1000 / 0"."""
    clock.set_clock("2026-03-10T10:00:00Z")
    m = Metered(api)
    account = new_account(api)
    plan = m.plan(1000, 500)
    first = assign_plan(api, account, plan, "2026-03-01")
    m.consume(account, "1100", "2026-03-10T09:00:00Z")
    assert m.figures(account) == (1000, 0, 500, 100)
    clock.set_clock("2026-03-12T10:00:00Z")
    again = assign_plan(api, account, plan, "2026-03-01")
    assert again == first
    assert list(_plans(api, account)) == [first["id"]]
    assert m.figures(account) == (1000, 0, 500, 100)


def test_idempotency_key_answers_the_original_or_409(clock: Server, api: httpx.Client) -> None:
    clock.set_clock("2026-03-10T10:00:00Z")
    m = Metered(api)
    account = new_account(api)
    basic, pro = m.plan(100, 10), m.plan(500, 50)
    key = "assign-" + account
    first = assign_plan(api, account, basic, "2026-03-01", idempotencyKey=key)
    assert first["idempotencyKey"] == key
    # A later change closes the first schedule; the key still answers the original.
    assign_plan(api, account, pro, "2026-03-05")
    assert assign_plan(api, account, basic, "2026-03-01", idempotencyKey=key) == first
    r = api.post(
        f"/accounts/{account}/plans",
        json={"planId": pro, "effectiveFrom": "2026-03-01", "idempotencyKey": key},
    )
    assert "already used" in error_message(r, 409)
    other = new_account(api)
    r = api.post(
        f"/accounts/{other}/plans",
        json={"planId": basic, "effectiveFrom": "2026-03-01", "idempotencyKey": key},
    )
    assert "already used" in error_message(r, 409)
    assert len(_plans(api, account)) == 2 and _plans(api, other) == {}


def test_plan_change_carries_usage_and_excess_counts_against_overage(
    clock: Server, api: httpx.Client
) -> None:
    clock.set_clock("2026-03-10T10:00:00Z")
    m = Metered(api)
    account = new_account(api)
    big, small = m.plan(1000, 500), m.plan(100, 50)
    old = assign_plan(api, account, big, "2026-03-01")["id"]
    m.consume(account, "130", "2026-03-10T09:00:00Z")
    new = assign_plan(api, account, small, "2026-03-10")["id"]
    # 130 drawn so far: 100 fill the new allowance, 30 count against its overage.
    assert m.figures(account) == (100, 0, 50, 30)
    m.consume(account, "20", "2026-03-10T11:00:00Z")
    assert m.figures(account) == (100, 0, 50, 50)
    r = api.post(
        "/entitled",
        json={
            "event": {
                "schemaName": m.schema,
                "timestamp": "2026-03-10T12:00:00Z",
                "accountId": account,
                "attributes": [{"name": "tokens", "value": "1"}],
                "dimensions": {},
            }
        },
    )
    assert r.status_code == 403, r.text
    plans = _plans(api, account)
    assert plans[old]["effectiveUntil"] == "2026-03-10"
    # Usage resets at the new plan's own cycle boundary (anchored at its effectiveFrom).
    clock.set_clock("2026-04-10T00:00:00Z")
    assert m.figures(account) == (100, 100, 50, 0)
    assert plans[new]["effectiveFrom"] == "2026-03-10"


def test_usage_beyond_both_allowances_is_not_carried_below_zero(
    clock: Server, api: httpx.Client
) -> None:
    clock.set_clock("2026-03-10T10:00:00Z")
    m = Metered(api)
    account = new_account(api)
    old = m.plan(1000, None)
    tiny = m.plan(10, 5)
    assign_plan(api, account, old, "2026-03-01")
    m.consume(account, "900", "2026-03-10T09:00:00Z")
    assign_plan(api, account, tiny, "2026-03-10")
    assert m.figures(account) == (10, 0, 5, 5)


def test_a_new_effective_from_inside_the_running_cycle_keeps_usage(
    clock: Server, api: httpx.Client
) -> None:
    clock.set_clock("2026-03-20T10:00:00Z")
    m = Metered(api)
    account = new_account(api)
    plan = m.plan(100, 10)
    assign_plan(api, account, plan, "2026-03-01")
    m.consume(account, "60", "2026-03-20T09:00:00Z")
    moved = assign_plan(api, account, plan, "2026-03-15")["id"]
    assert m.figures(account) == (100, 40, 10, 0)
    entries = {e["id"]: e for e in m.entries(account)}
    assert entries[f"{moved}#2026-03-15$PRICE_PLAN"]["used"] == 60
    assert entries[f"{moved}#2026-03-15$PRICE_PLAN"]["effectiveUntil"] == "2026-04-15T00:00:00Z"


def test_a_change_from_a_later_day_carries_when_it_begins(clock: Server, api: httpx.Client) -> None:
    clock.set_clock("2026-03-05T10:00:00Z")
    m = Metered(api)
    account = new_account(api)
    basic, pro = m.plan(100, 10), m.plan(500, 50)
    assign_plan(api, account, basic, "2026-03-01")
    sch = assign_plan(api, account, pro, "2026-03-20")["id"]
    m.consume(account, "70", "2026-03-06T00:00:00Z")
    clock.set_clock("2026-03-19T23:00:00Z")
    m.consume(account, "20", "2026-03-19T22:00:00Z")
    assert m.figures(account) == (100, 10, 10, 0)
    clock.set_clock("2026-03-20T01:00:00Z")
    assert m.figures(account) == (500, 410, 50, 0)
    entries = {e["id"]: e for e in m.entries(account)}
    assert entries[f"{sch}#2026-03-20$PRICE_PLAN"]["used"] == 90


def test_a_change_on_a_cycle_boundary_resets_usage(clock: Server, api: httpx.Client) -> None:
    clock.set_clock("2026-03-25T10:00:00Z")
    m = Metered(api)
    account = new_account(api)
    basic, pro = m.plan(100, 10), m.plan(500, 50)
    assign_plan(api, account, basic, "2026-03-01")
    m.consume(account, "70", "2026-03-25T09:00:00Z")
    assign_plan(api, account, pro, "2026-04-01")
    clock.set_clock("2026-04-01T01:00:00Z")
    assert m.figures(account) == (500, 500, 50, 0)


def test_a_new_schedule_from_the_same_start_replaces_the_old_one(
    clock: Server, api: httpx.Client
) -> None:
    clock.set_clock("2026-03-10T10:00:00Z")
    m = Metered(api)
    account = new_account(api)
    basic, pro = m.plan(100, 10), m.plan(500, 50)
    old = assign_plan(api, account, basic, "2026-03-01")["id"]
    m.consume(account, "80", "2026-03-10T09:00:00Z")
    new = assign_plan(api, account, pro, "2026-03-01")["id"]
    plans = _plans(api, account)
    # The old schedule was never in force: it ends where it begins.
    assert plans[old]["effectiveFrom"] == plans[old]["effectiveUntil"] == "2026-03-01"
    assert m.figures(account) == (500, 420, 50, 0)
    assert f"{new}#2026-03-01$PRICE_PLAN" in {e["id"] for e in m.entries(account)}


def test_a_bounded_plan_inside_a_longer_one_hands_back_to_it(
    clock: Server, api: httpx.Client
) -> None:
    clock.set_clock("2026-03-10T10:00:00Z")
    m = Metered(api)
    account = new_account(api)
    basic, promo = m.plan(100, 10), m.plan(1000, 0)
    old = assign_plan(api, account, basic, "2026-01-01")["id"]
    m.consume(account, "40", "2026-03-10T09:00:00Z")
    temp = assign_plan(api, account, promo, "2026-03-10", effectiveUntil="2026-03-25")["id"]
    assert m.figures(account) == (1000, 960, 0, 0)
    m.consume(account, "500", "2026-03-20T00:00:00Z")
    plans = _plans(api, account)
    assert plans[old]["effectiveUntil"] == "2026-03-10"
    [back] = [s for s in plans.values() if s["id"] not in (old, temp)]
    assert back["planId"] == basic and back["effectiveFrom"] == "2026-03-25"
    assert "effectiveUntil" not in back
    # The promotion's cycle was cut short: its 540 carry into the resumed plan (100 + 10).
    clock.set_clock("2026-03-25T01:00:00Z")
    assert m.figures(account) == (100, 0, 10, 10)
    # The resumed plan counts its cycles as before the promotion: a new one begins on the 1st.
    clock.set_clock("2026-04-25T01:00:00Z")
    assert m.figures(account) == (100, 100, 10, 0)


def test_back_dating_across_many_cycles_keeps_the_running_cycle_usage(
    clock: Server, api: httpx.Client
) -> None:
    clock.set_clock("2026-11-20T10:00:00Z")
    m = Metered(api)
    account = new_account(api)
    basic, pro = (
        m.plan(100, 10),
        new_plan(api, [{"featureId": m.feature, "creditsPerCycle": 500}], cycle="WEEKLY"),
    )
    old = assign_plan(api, account, basic, "2026-06-01")["id"]
    m.consume(account, "90", "2026-11-20T09:00:00Z")
    new = assign_plan(api, account, pro, "2025-12-01")["id"]
    plans = _plans(api, account)
    # The old schedule began after the new one: it is replaced from its own start.
    assert plans[old]["effectiveUntil"] == "2026-06-01"
    assert m.figures(account) == (500, 410, None, 0)
    entries = {e["id"]: e for e in m.entries(account)}
    # Weekly cycles from 2025-12-01 (50 of them, within the 366-day reach); the one holding
    # today counts the 90 drawn in its window.
    assert entries[f"{new}#2026-11-16$PRICE_PLAN"]["used"] == 90
    # Cycles already over when it was assigned are real cycles with what was really drawn in
    # them (nothing): a late event dated in one draws from it.
    past = entries[f"{new}#2026-11-09$PRICE_PLAN"]
    assert (past["used"], past["balance"]) == (0, 500)
    late = {
        "event": {
            "schemaName": m.schema,
            "timestamp": "2026-11-10T00:00:00Z",
            "accountId": account,
            "attributes": [{"name": "tokens", "value": "1"}],
            "dimensions": {},
        }
    }
    assert api.post("/entitled", json=late).status_code == 200
    past = {e["id"]: e for e in m.entries(account)}[f"{new}#2026-11-09$PRICE_PLAN"]
    assert (past["used"], past["balance"]) == (1, 499)
    clock.set_clock("2026-11-23T00:00:00Z")
    assert m.figures(account) == (500, 500, None, 0)


def test_a_plan_change_through_the_official_client(clock: Server, api: httpx.Client) -> None:
    from togai_client.models.get_feature_credits_response import GetFeatureCreditsResponse

    clock.set_clock("2026-03-10T10:00:00Z")
    m = Metered(api)
    account = new_account(api)
    assign_plan(api, account, m.plan(1000, 500), "2026-03-01")
    m.consume(account, "1100", "2026-03-10T09:00:00Z")
    assign_plan(api, account, m.plan(1000, 500), "2026-03-10")
    parsed = GetFeatureCreditsResponse.from_json(
        api.get(f"/accounts/{account}/features/{m.feature}").text
    )
    assert parsed is not None
    assert (parsed.granted, parsed.balance, parsed.used_overage) == (1000, 0, 100)
