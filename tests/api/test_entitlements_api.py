"""Entitlement plans, schedules, purchases, direct grants and values, and the seed operations
on feature credits (docs/api.md §6), over HTTP on SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.helpers import (
    assign_plan,
    error_message,
    feature_credits,
    feature_entries,
    grant_entry,
    new_account,
    new_feature,
    new_plan,
    new_schema,
    usage_event,
)
from tests.servers import Server, run_cli

FAR = "9999-12-31T00:00:00Z"


class Metered:
    """A schema whose `tokens` attribute consumes one metered feature."""

    def __init__(self, api: httpx.Client) -> None:
        self.api = api
        self.schema = new_schema(api, ("tokens",))
        self.feature = new_feature(api, [(self.schema, "tokens")], name="AI tokens")

    def plan(self, credits: Any = 100, overage: Any = 20, cycle: str = "MONTHLY") -> str:
        item: dict[str, Any] = {"featureId": self.feature, "creditsPerCycle": credits}
        if overage is not None:
            item["overagePerCycle"] = overage
        return new_plan(self.api, [item], cycle=cycle)

    def consume(self, account: str, tokens: str, at: str) -> None:
        r = self.api.post("/entitled", json=usage_event(self.schema, account, at, tokens=tokens))
        assert r.status_code == 200, r.text
        assert r.json() == {"success": True}

    def credits(self, account: str, **params: Any) -> dict[str, Any]:
        return feature_credits(self.api, account, self.feature, **params)

    def figures(self, account: str, **params: Any) -> tuple[Any, Any, Any, Any]:
        c = self.credits(account, **params)
        return c["granted"], c["balance"], c.get("overageLimit"), c["usedOverage"]

    def entries(self, account: str) -> list[dict[str, Any]]:
        return feature_entries(self.api, account, self.feature)

    def entry_path(self, account: str, entry_id: str) -> str:
        return f"/accounts/{account}/features/{self.feature}/entries/{quote(entry_id, safe='')}"


def _by_id(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["id"]: e for e in entries}


# --- plans and schedules ----------------------------------------------------------------------


def test_monthly_plan_resets_usage_on_the_cycle_boundary(clock: Server, api: httpx.Client) -> None:
    clock.set_clock("2026-01-20T10:00:00Z")
    m = Metered(api)
    account = new_account(api)
    plan = m.plan(100, 20)
    schedule = assign_plan(api, account, plan, "2026-01-15")
    sch = schedule["id"]
    assert sch.startswith("sch.") and len(sch) <= 50
    assert schedule["accountId"] == account and schedule["planId"] == plan
    assert schedule["effectiveFrom"] == "2026-01-15"
    assert "effectiveUntil" not in schedule

    # The first cycle's entries exist at once; no sweeper, no earlier read made them.
    r = api.get(f"/accounts/{account}/features/{m.feature}")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "accountId": account,
        "featureId": m.feature,
        "granted": 100,
        "balance": 100,
        "overageLimit": 20,
        "usedOverage": 0,
    }
    jan = f"{sch}#2026-01-15"
    entries = _by_id(m.entries(account))
    assert set(entries) == {jan + "$PRICE_PLAN", jan + "$OVERAGE"}
    assert entries[jan + "$PRICE_PLAN"] == {
        "id": jan + "$PRICE_PLAN",
        "source": "PRICE_PLAN",
        "status": "ACTIVE",
        "effectiveFrom": "2026-01-15T00:00:00Z",
        "effectiveUntil": "2026-02-15T00:00:00Z",
        "granted": 100,
        "balance": 100,
        "used": 0,
    }
    assert entries[jan + "$OVERAGE"]["source"] == "OVERAGE"
    assert entries[jan + "$OVERAGE"]["granted"] == 20

    clock.set_clock("2026-01-20T11:00:00Z")
    m.consume(account, "110", "2026-01-20T11:00:00Z")
    assert m.figures(account) == (100, 0, 20, 10)

    clock.set_clock("2026-02-14T23:59:59Z")
    assert m.figures(account) == (100, 0, 20, 10)

    # The boundary: a fresh allowance, aligned to the schedule's effectiveFrom (the 15th).
    clock.set_clock("2026-02-15T00:00:00Z")
    assert m.figures(account) == (100, 100, 20, 0)
    feb = f"{sch}#2026-02-15"
    listed = m.entries(account)
    assert {e["id"] for e in listed[:2]} == {feb + "$PRICE_PLAN", feb + "$OVERAGE"}
    entries = _by_id(listed)
    assert len(entries) == 4
    # The official client refuses entry ids over 50 characters.
    assert all(len(i) <= 50 for i in entries)
    assert entries[jan + "$PRICE_PLAN"]["status"] == "EXPIRED"
    assert (entries[jan + "$PRICE_PLAN"]["used"], entries[jan + "$OVERAGE"]["used"]) == (100, 10)
    assert entries[feb + "$PRICE_PLAN"]["effectiveUntil"] == "2026-03-15T00:00:00Z"
    assert entries[feb + "$PRICE_PLAN"]["status"] == "ACTIVE"

    # The past stays readable: asOf inside January shows January's usage.
    assert m.figures(account, asOf="2026-02-01T00:00:00Z") == (100, 0, 20, 10)
    assert m.figures(account, asOf="2026-01-20T10:30:00Z") == (100, 100, 20, 0)
    # Before the plan was assigned the ledger held nothing for the account.
    assert m.figures(account, asOf="2026-01-20T09:00:00Z") == (0, 0, None, 0)
    error_message(
        api.get(f"/accounts/{account}/features/{m.feature}", params={"asOf": "2027-01-01"}), 400
    )


@pytest.mark.parametrize(
    ("cycle", "start", "now", "starts"),
    [
        (
            "WEEKLY",
            "2026-01-01",
            "2026-01-15T00:00:00Z",
            ["2026-01-01", "2026-01-08", "2026-01-15"],
        ),
        (
            "MONTHLY",
            "2026-01-31",
            "2026-03-31T00:00:00Z",
            ["2026-01-31", "2026-02-28", "2026-03-31"],
        ),
        (
            "QUARTERLY",
            "2025-11-30",
            "2026-05-30T00:00:00Z",
            ["2025-11-30", "2026-02-28", "2026-05-30"],
        ),
        (
            "ANNUALLY",
            "2024-02-29",
            "2026-02-28T00:00:00Z",
            ["2024-02-29", "2025-02-28", "2026-02-28"],
        ),
    ],
)
def test_cycles_align_to_the_schedule_start(
    clock: Server, api: httpx.Client, cycle: str, start: str, now: str, starts: list[str]
) -> None:
    clock.set_clock(start + "T00:00:00Z")
    m = Metered(api)
    account = new_account(api)
    sch = assign_plan(api, account, m.plan(10, None, cycle=cycle), start)["id"]
    # Jump over several boundaries without any read in between.
    clock.set_clock(now)
    listed = m.entries(account)
    assert [e["id"] for e in listed] == [f"{sch}#{s}$PRICE_PLAN" for s in reversed(starts)]
    windows = [(e["effectiveFrom"][:10], e["effectiveUntil"][:10]) for e in reversed(listed)]
    assert [w[0] for w in windows] == starts
    assert [w[1] for w in windows[:-1]] == starts[1:]
    assert [e["status"] for e in listed] == ["ACTIVE", "EXPIRED", "EXPIRED"]
    assert m.figures(account) == (10, 10, None, 0)


def test_long_back_dated_schedule_still_yields_its_current_cycle(
    clock: Server, api: httpx.Client
) -> None:
    clock.set_clock("2026-01-10T00:00:00Z")
    m = Metered(api)
    account = new_account(api)
    plan = m.plan(10, None, cycle="WEEKLY")
    # Assigned from 2000-01-03 (a Monday), then never read until more than a thousand weekly
    # cycles have begun.
    clock.set_clock("2000-01-05T00:00:00Z")
    sch = assign_plan(api, account, plan, "2000-01-03")["id"]
    clock.set_clock("2026-01-10T00:00:00Z")
    assert m.figures(account) == (10, 10, None, 0)
    newest = api.get(f"/accounts/{account}/features/{m.feature}/entries", params={"pageSize": 1})
    [current] = newest.json()["data"]
    assert current["id"] == f"{sch}#2026-01-05$PRICE_PLAN"
    assert current["status"] == "ACTIVE"
    # One read made only the latest MAX_CYCLES_PER_READ (60) cycles, not all 1358.
    made = m.entries(account)
    assert len(made) == 60 and min(e["effectiveFrom"] for e in made) == "2024-11-18T00:00:00Z"
    # The first cycle is still found for a read at an instant inside it.
    assert m.figures(account, asOf="2000-01-06T00:00:00Z") == (10, 10, None, 0)


def test_changing_plan_closes_the_old_schedule_at_the_change_date(
    clock: Server, api: httpx.Client
) -> None:
    clock.set_clock("2026-01-10T08:00:00Z")
    m = Metered(api)
    account = new_account(api)
    basic, pro = m.plan(100, 20), m.plan(500, 50)
    old = assign_plan(api, account, basic, "2026-01-01")["id"]
    m.consume(account, "30", "2026-01-10T08:00:00Z")

    clock.set_clock("2026-01-20T08:00:00Z")
    new = assign_plan(api, account, pro, "2026-01-20")["id"]
    r = api.get(f"/accounts/{account}/plans")
    assert r.status_code == 200, r.text
    plans = {s["id"]: s for s in r.json()["data"]}
    assert plans[old]["effectiveUntil"] == "2026-01-20"
    assert plans[new]["effectiveFrom"] == "2026-01-20" and "effectiveUntil" not in plans[new]

    # The 30 drawn in the running cycle carry into the new plan's first cycle.
    assert m.figures(account) == (500, 470, 50, 0)
    # Before the change was made the old plan's allowance was still in force.
    assert m.figures(account, asOf="2026-01-20T07:00:00Z") == (100, 70, 20, 0)
    entries = _by_id(m.entries(account))
    old_entry = entries[f"{old}#2026-01-01$PRICE_PLAN"]
    assert old_entry["effectiveUntil"] == "2026-01-20T00:00:00Z"
    assert old_entry["status"] == "EXPIRED" and old_entry["used"] == 30
    carried = entries[f"{new}#2026-01-20$PRICE_PLAN"]
    assert carried["effectiveUntil"] == "2026-02-20T00:00:00Z" and carried["used"] == 30

    # The old plan yields no further cycle; the new one turns on its own anniversary.
    clock.set_clock("2026-02-01T00:00:00Z")
    assert len(m.entries(account)) == 4
    clock.set_clock("2026-02-20T00:00:00Z")
    ids = {e["id"] for e in m.entries(account)}
    assert f"{new}#2026-02-20$PRICE_PLAN" in ids and not any("2026-02-01" in i for i in ids)
    assert m.figures(account) == (500, 500, 50, 0)


def test_schedule_with_an_end_stops_yielding_cycles(clock: Server, api: httpx.Client) -> None:
    clock.set_clock("2026-01-05T00:00:00Z")
    m = Metered(api)
    account = new_account(api)
    sch = assign_plan(api, account, m.plan(10, None), "2026-01-01", effectiveUntil="2026-02-10")
    assert sch["effectiveUntil"] == "2026-02-10"
    clock.set_clock("2026-03-05T00:00:00Z")
    listed = m.entries(account)
    assert [(e["effectiveFrom"][:10], e["effectiveUntil"][:10]) for e in listed] == [
        ("2026-02-01", "2026-02-10"),
        ("2026-01-01", "2026-02-01"),
    ]
    assert m.figures(account) == (0, 0, None, 0)


def test_a_bounded_schedule_leaves_a_later_one_alone(clock: Server, api: httpx.Client) -> None:
    clock.set_clock("2026-01-05T00:00:00Z")
    m = Metered(api)
    account = new_account(api)
    later = assign_plan(api, account, m.plan(30, None), "2026-03-01")["id"]
    trial = assign_plan(api, account, m.plan(5, None), "2026-01-01", effectiveUntil="2026-02-01")
    plans = {s["id"]: s for s in api.get(f"/accounts/{account}/plans").json()["data"]}
    assert "effectiveUntil" not in plans[later]
    assert plans[trial["id"]]["effectiveUntil"] == "2026-02-01"
    assert m.figures(account) == (5, 5, None, 0)
    clock.set_clock("2026-02-10T00:00:00Z")
    assert m.figures(account) == (0, 0, None, 0)
    clock.set_clock("2026-03-01T00:00:00Z")
    assert m.figures(account) == (30, 30, None, 0)
    # An open-ended schedule starting inside a running one closes it there.
    switch = assign_plan(api, account, m.plan(50, None), "2026-03-15")["id"]
    plans = {s["id"]: s for s in api.get(f"/accounts/{account}/plans").json()["data"]}
    assert plans[later]["effectiveUntil"] == "2026-03-15"
    clock.set_clock("2026-03-15T00:00:00Z")
    assert m.figures(account) == (50, 50, None, 0)
    assert m.entries(account)[0]["id"] == f"{switch}#2026-03-15$PRICE_PLAN"


def test_schedule_starting_later_grants_nothing_until_it_starts(
    clock: Server, api: httpx.Client
) -> None:
    clock.set_clock("2026-01-05T00:00:00Z")
    m = Metered(api)
    flag = new_feature(api, valueType="BOOLEAN")
    plan = new_plan(
        api,
        [{"featureId": m.feature, "creditsPerCycle": 7}, {"featureId": flag, "value": "true"}],
    )
    account = new_account(api)
    sch = assign_plan(api, account, plan, "2026-02-01")["id"]
    assert m.figures(account) == (0, 0, None, 0)
    assert m.entries(account) == []
    assert api.get(f"/accounts/{account}/entitlements").json() == {"data": []}
    clock.set_clock("2026-02-01T00:00:00Z")
    assert [e["id"] for e in m.entries(account)] == [f"{sch}#2026-02-01$PRICE_PLAN"]
    assert m.figures(account) == (7, 7, None, 0)
    r = api.get(f"/accounts/{account}/entitlements")
    assert r.json()["data"] == sorted(
        [{"featureId": m.feature, "value": "true"}, {"featureId": flag, "value": "true"}],
        key=lambda d: d["featureId"],
    )


def test_assign_plan_errors(api: httpx.Client) -> None:
    m = Metered(api)
    account = new_account(api)
    billing = m.plan()
    purchase = new_plan(api, [{"featureId": m.feature, "creditsPerCycle": 1}], "PURCHASE")

    def bad(status: int, account_id: str = account, **body: Any) -> str:
        payload = {"planId": billing, "effectiveFrom": "2026-01-01", **body}
        return error_message(api.post(f"/accounts/{account_id}/plans", json=payload), status)

    assert "PURCHASE" in bad(400, planId=purchase)
    assert "no-plan" in bad(404, planId="no-plan")
    assert "no-account" in bad(404, account_id="no-account")
    assert "effectiveUntil" in bad(400, effectiveUntil="2026-01-01")
    assert "effectiveFrom" in bad(400, effectiveFrom="2026-01-01T10:00:00Z")
    assert "priceplan" in bad(400, priceplan="x")
    error_message(api.get("/accounts/no-account/plans"), 404)
    assert api.get(f"/accounts/{account}/plans").json() == {"data": []}


# --- purchases --------------------------------------------------------------------------------


def test_purchase_grants_credits_per_cycle_times_quantity(clock: Server, api: httpx.Client) -> None:
    clock.set_clock("2026-02-01T12:00:00Z")
    m = Metered(api)
    images = new_feature(api, name="Images")
    plan = new_plan(
        api,
        [
            {"featureId": m.feature, "creditsPerCycle": 100},
            {"featureId": images, "creditsPerCycle": 0.1, "validity": "P30D"},
        ],
        "PURCHASE",
    )
    account = new_account(api)
    key = "buy-" + secrets.token_hex(4)
    body = {"pricePlanId": plan, "rateCardQuantities": {m.feature: 1.2, images: 3}}
    r = api.post(f"/accounts/{account}/purchases", json={**body, "idempotencyKey": key})
    assert r.status_code == 200, r.text
    bought = r.json()
    pid = bought["id"]
    assert pid.startswith("purchase.") and len(pid) <= 50
    assert bought["accountId"] == account and bought["pricePlanId"] == plan
    assert bought["status"] == "SUCCESS" and bought["type"] == "ENTITLEMENT_GRANT"
    assert bought["rateCardQuantities"] == {m.feature: 1.2, images: 3}
    assert bought["idempotencyKey"] == key
    got = api.get(f"/purchases/{pid}")
    assert got.status_code == 200, got.text
    detail = got.json()
    # GetPurchaseResponse: the Purchase and, per feature, what it granted and has left.
    features = detail.pop("features")
    assert detail == bought
    assert [(f["id"], f["creditsGranted"], f["creditsAvailable"]) for f in features] == [
        (m.feature, 120, 120),
        (images, 0.3, 0.3),
    ]

    [tokens] = m.entries(account)
    assert tokens == {
        "id": f"{pid}#1$PURCHASE",
        "source": "ENTITLEMENT",
        "status": "ACTIVE",
        "effectiveFrom": "2026-02-01T12:00:00Z",
        "effectiveUntil": FAR,
        "granted": 120,
        "balance": 120,
        "used": 0,
    }
    r = api.get(f"/accounts/{account}/features/{images}/entries")
    assert '"granted":0.3,' in r.text and "0.30000" not in r.text
    [image_entry] = r.json()["data"]
    assert image_entry["id"] == f"{pid}#2$PURCHASE"
    assert image_entry["effectiveUntil"] == "2026-03-03T12:00:00Z"
    assert m.figures(account) == (120, 120, None, 0)

    # Replay: the same purchase, nothing new. Same key, other payload: 409.
    again = api.post(f"/accounts/{account}/purchases", json={**body, "idempotencyKey": key})
    assert again.status_code == 200 and again.json() == bought, again.text
    changed = {**body, "rateCardQuantities": {m.feature: 2}, "idempotencyKey": key}
    assert key in error_message(api.post(f"/accounts/{account}/purchases", json=changed), 409)
    other = new_account(api)
    error_message(
        api.post(f"/accounts/{other}/purchases", json={**body, "idempotencyKey": key}), 409
    )
    assert len(m.entries(account)) == 1 and m.entries(other) == []

    # Without a key, each purchase adds entries.
    second = api.post(f"/accounts/{account}/purchases", json=body)
    assert second.status_code == 200 and second.json()["id"] != pid, second.text
    assert m.figures(account) == (240, 240, None, 0)


def test_purchase_credits_available_counts_only_what_can_still_be_drawn(
    clock: Server, api: httpx.Client
) -> None:
    """`creditsAvailable` of `GET /purchases/{id}`: a voided entry's remainder is gone and an
    expired one's can no longer be drawn, so neither counts; an entry not yet effective
    still counts (it will be drawn from)."""
    clock.set_clock("2026-02-01T12:00:00Z")
    m = Metered(api)
    images = new_feature(api, name="Images")
    seats = new_feature(api, name="Seats")
    plan = new_plan(
        api,
        [
            {"featureId": m.feature, "creditsPerCycle": 100},
            {"featureId": images, "creditsPerCycle": 10, "validity": "P10D"},
            {"featureId": seats, "creditsPerCycle": 5},
        ],
        "PURCHASE",
    )
    account = new_account(api)
    pid = api.post(f"/accounts/{account}/purchases", json={"pricePlanId": plan}).json()["id"]
    m.consume(account, "30", "2026-02-01T12:00:00Z")
    later = api.post(
        f"/accounts/{account}/purchases",
        json={"pricePlanId": plan, "effectiveFrom": "2026-03-01"},
    ).json()["id"]

    def available(purchase_id: str) -> list[tuple[str, Any, Any]]:
        features = api.get(f"/purchases/{purchase_id}").json()["features"]
        return [(f["id"], f["creditsGranted"], f["creditsAvailable"]) for f in features]

    assert available(pid) == [(m.feature, 100, 70), (images, 10, 10), (seats, 5, 5)]
    r = api.post(f"/accounts/{account}/features/{seats}/entries/{quote(pid + '#3$PURCHASE')}/void")
    assert r.status_code == 200, r.text
    clock.set_clock("2026-02-20T12:00:00Z")  # the images entry ended on 02-11
    assert available(pid) == [(m.feature, 100, 70), (images, 10, 0), (seats, 5, 0)]
    # Not effective yet, but nothing stops it being drawn when it is: it counts.
    assert available(later) == [(m.feature, 100, 100), (images, 10, 10), (seats, 5, 5)]


def test_purchase_window_and_errors(clock: Server, api: httpx.Client) -> None:
    clock.set_clock("2026-02-01T12:00:00Z")
    m = Metered(api)
    flag = new_feature(api)
    plan = new_plan(
        api,
        [{"featureId": flag, "value": "true"}, {"featureId": m.feature, "creditsPerCycle": 5}],
        "PURCHASE",
    )
    account = new_account(api)
    r = api.post(
        f"/accounts/{account}/purchases",
        json={
            "pricePlanId": plan,
            "rateCardQuantities": {m.feature: 2},
            "effectiveFrom": "2026-03-01",
            "effectiveUntil": "2026-04-01",
        },
    )
    assert r.status_code == 200, r.text
    [entry] = m.entries(account)
    assert entry["id"] == r.json()["id"] + "#2$PURCHASE"
    assert (entry["effectiveFrom"], entry["effectiveUntil"]) == (
        "2026-03-01T00:00:00Z",
        "2026-04-01T00:00:00Z",
    )
    # Not yet effective: nothing granted today.
    assert m.figures(account) == (0, 0, None, 0)

    billing = m.plan()

    def bad(status: int, account_id: str = account, **fields: Any) -> str:
        body = {"pricePlanId": plan, "rateCardQuantities": {m.feature: 1}, **fields}
        return error_message(api.post(f"/accounts/{account_id}/purchases", json=body), status)

    assert "BILLING" in bad(400, pricePlanId=billing)
    assert "no-plan" in bad(404, pricePlanId="no-plan")
    assert "no-account" in bad(404, account_id="no-account")
    assert flag in bad(400, rateCardQuantities={flag: 1})
    assert "other" in bad(400, rateCardQuantities={"other": 1})
    assert "rateCardQuantities" in bad(400, rateCardQuantities={m.feature: 0})
    assert "rateCardQuantities" in bad(400, rateCardQuantities={m.feature: -1})
    assert "rateCardQuantities" in bad(400, rateCardQuantities={})
    assert "effectiveUntil" in bad(400, effectiveFrom="2026-03-01", effectiveUntil="2026-03-01")
    assert "pricePlanId" in bad(400, pricePlanId=None)
    monthly = new_plan(
        api, [{"featureId": m.feature, "creditsPerCycle": 5, "validity": "P1M"}], "PURCHASE"
    )
    assert "validity" in bad(400, pricePlanId=monthly, effectiveFrom="9999-12-15")
    assert len(m.entries(account)) == 1
    error_message(api.get("/purchases/purchase.nope"), 404)


# --- direct grants and values ---------------------------------------------------------------


def test_direct_grant_refund_and_idempotency(clock: Server, api: httpx.Client) -> None:
    clock.set_clock("2026-02-01T12:00:00Z")
    m = Metered(api)
    account = new_account(api)
    key = "refund-" + secrets.token_hex(4)
    body = {
        "granted": 0.3,
        "source": "REFUND",
        "effectiveFrom": "2026-01-01T00:00:00Z",
        "effectiveUntil": "2026-06-01T00:00:00",
        "idempotencyKey": key,
    }
    r = api.post(f"/accounts/{account}/features/{m.feature}/entries", json=body)
    assert r.status_code == 200, r.text
    assert '"granted":0.3,' in r.text
    entry = r.json()
    assert entry["source"] == "REFUND" and entry["status"] == "ACTIVE"
    assert entry["effectiveFrom"] == "2026-01-01T00:00:00Z"
    assert entry["effectiveUntil"] == "2026-06-01T00:00:00Z"
    assert (entry["granted"], entry["balance"], entry["used"]) == (0.3, 0.3, 0)
    again = api.post(f"/accounts/{account}/features/{m.feature}/entries", json=body)
    assert again.status_code == 200 and again.json() == entry, again.text
    changed = {**body, "granted": 0.4}
    r = api.post(f"/accounts/{account}/features/{m.feature}/entries", json=changed)
    assert key in error_message(r, 409)
    assert m.entries(account) == [entry]

    goodwill = grant_entry(api, account, m.feature, 10)
    assert goodwill["source"] == "ENTITLEMENT"
    assert goodwill["effectiveFrom"] == "2026-02-01T12:00:00Z"
    assert goodwill["effectiveUntil"] == FAR
    overage = grant_entry(api, account, m.feature, 5, source="OVERAGE")
    assert overage["source"] == "OVERAGE"
    r = api.get(f"/accounts/{account}/features/{m.feature}")
    assert '"granted":10.3,' in r.text and '"balance":10.3,' in r.text
    assert m.figures(account) == (10.3, 10.3, 5, 0)


def test_direct_grant_errors(api: httpx.Client) -> None:
    m = Metered(api)
    account = new_account(api)
    path = f"/accounts/{account}/features/{m.feature}/entries"
    assert "source" in error_message(
        api.post(path, json={"granted": 5, "source": "PRICE_PLAN"}), 400
    )
    assert "source" in error_message(api.post(path, json={"granted": 5, "source": "GIFT"}), 400)
    assert "granted" in error_message(api.post(path, json={"granted": 0}), 400)
    assert "granted" in error_message(api.post(path, json={"granted": "5"}), 400)
    assert "granted" in error_message(api.post(path, json={"granted": 1e-11}), 400)
    assert "granted" in error_message(api.post(path, json={}), 400)
    window = {"granted": 5, "effectiveFrom": "2026-02-01T00:00:00Z", "effectiveUntil": "2026-01-01"}
    assert "effectiveUntil" in error_message(api.post(path, json=window), 400)
    # Offsets that carry the calendar's first or last day out of range in UTC.
    early = {"granted": 5, "effectiveFrom": "0001-01-01T00:00:00+01:00"}
    assert "effectiveFrom" in error_message(api.post(path, json=early), 400)
    late = {"granted": 5, "effectiveUntil": "9999-12-31T23:59:59-01:00"}
    assert "effectiveUntil" in error_message(api.post(path, json=late), 400)
    r = api.get(
        f"/accounts/{account}/features/{m.feature}", params={"asOf": "0001-01-01T00:00+01:00"}
    )
    assert "asOf" in error_message(r, 400)
    r = api.post(f"/accounts/no-account/features/{m.feature}/entries", json={"granted": 5})
    assert "no-account" in error_message(r, 404)
    r = api.post(f"/accounts/{account}/features/no-feature/entries", json={"granted": 5})
    assert "no-feature" in error_message(r, 404)
    assert m.entries(account) == []


def test_put_value_sets_and_overrides(api: httpx.Client) -> None:
    flag = new_feature(api, valueType="BOOLEAN")
    seats = new_feature(api, valueType="NUMERIC")
    tier = new_feature(api, valueType="ENUM", allowedValues=["basic", "gold"])
    region = new_feature(api, valueType="STRING")
    account = new_account(api)
    for fid, value in ((flag, "true"), (seats, "10"), (tier, "gold"), (region, "eu-west")):
        r = api.put(f"/accounts/{account}/entitlements/{fid}", json={"value": value})
        assert r.status_code == 200, r.text
        assert r.json() == {"data": [{"featureId": fid, "value": value}]}
    r = api.put(f"/accounts/{account}/entitlements/{seats}", json={"value": "12.5"})
    assert r.status_code == 200 and r.json()["data"][0]["value"] == "12.5", r.text

    def bad(fid: str, value: Any, status: int = 400) -> str:
        return error_message(
            api.put(f"/accounts/{account}/entitlements/{fid}", json={"value": value}), status
        )

    assert "true" in bad(flag, "yes")
    assert "NUMERIC" in bad(seats, "ten")
    assert "gold" in bad(tier, "platinum")
    assert "value" in bad(region, 5)
    error_message(api.put(f"/accounts/{account}/entitlements/{flag}", json={}), 400)
    error_message(api.put(f"/accounts/no-account/entitlements/{flag}", json={"value": "true"}), 404)
    error_message(
        api.put(f"/accounts/{account}/entitlements/no-feature", json={"value": "true"}), 404
    )
    r = api.get(f"/accounts/{account}/entitlements")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "data": sorted(
            [
                {"featureId": flag, "value": "true"},
                {"featureId": seats, "value": "12.5"},
                {"featureId": tier, "value": "gold"},
                {"featureId": region, "value": "eu-west"},
            ],
            key=lambda d: d["featureId"],
        )
    }


# --- the seed operations ----------------------------------------------------------------------


def test_feature_credits_errors_and_empty(api: httpx.Client) -> None:
    m = Metered(api)
    account = new_account(api)
    r = api.get(f"/accounts/{account}/features/{m.feature}")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "accountId": account,
        "featureId": m.feature,
        "granted": 0,
        "balance": 0,
        "usedOverage": 0,
    }
    assert "no-account" in error_message(api.get(f"/accounts/no-account/features/{m.feature}"), 404)
    assert "no-feature" in error_message(api.get(f"/accounts/{account}/features/no-feature"), 404)
    error_message(api.get(f"/accounts/{account}/features/no-feature/entries"), 404)
    asof = api.get(f"/accounts/{account}/features/{m.feature}", params={"asOf": "yesterday"})
    assert "asOf" in error_message(asof, 400)


def test_entries_are_listed_newest_first_with_paging(clock: Server, api: httpx.Client) -> None:
    m = Metered(api)
    account = new_account(api)
    granted = []
    for second in range(5):
        clock.set_clock(f"2026-02-01T12:00:0{second}Z")
        granted.append(grant_entry(api, account, m.feature, second + 1)["id"])
    path = f"/accounts/{account}/features/{m.feature}/entries"
    first = api.get(path, params={"pageSize": 2})
    assert first.status_code == 200, first.text
    page = first.json()
    assert [e["id"] for e in page["data"]] == granted[::-1][:2]
    token = page["nextToken"]
    assert token and len(token) <= 500
    assert [e["id"] for e in m.entries(account)] == granted[::-1]

    # A grant made while paging does not disturb the pages already being read.
    clock.set_clock("2026-02-01T12:00:09Z")
    grant_entry(api, account, m.feature, 99)
    rest: list[str] = []
    while token:
        r = api.get(path, params={"pageSize": 2, "nextToken": token})
        assert r.status_code == 200, r.text
        rest.extend(e["id"] for e in r.json()["data"])
        token = r.json().get("nextToken")
    assert rest == granted[::-1][2:]

    assert "pageSize" in error_message(api.get(path, params={"pageSize": 51}), 400)
    assert "pageSize" in error_message(api.get(path, params={"pageSize": "two"}), 400)
    assert "nextToken" in error_message(
        api.get(path, params={"nextToken": page["nextToken"][:-2]}), 400
    )
    other_feature = new_feature(api)
    r = api.get(
        f"/accounts/{account}/features/{other_feature}/entries",
        params={"nextToken": page["nextToken"]},
    )
    error_message(r, 400)
    full = api.get(path, params={"pageSize": 50}).json()
    assert len(full["data"]) == 6 and "nextToken" not in full


def test_patch_entry_rules(clock: Server, api: httpx.Client) -> None:
    clock.set_clock("2026-01-10T00:00:00Z")
    m = Metered(api)
    account = new_account(api)
    sch = assign_plan(api, account, m.plan(100, 20), "2026-01-01")["id"]
    m.consume(account, "40", "2026-01-10T00:00:00Z")
    plan_entry = f"{sch}#2026-01-01$PRICE_PLAN"
    path = m.entry_path(account, plan_entry)
    assert "%23" in path and "%24" in path

    r = api.patch(path, json={"granted": 150.5, "effectiveUntil": "2026-01-25T00:00:00Z"})
    assert r.status_code == 200, r.text
    assert '"granted":150.5,' in r.text and '"balance":110.5,' in r.text
    patched = r.json()
    assert patched["id"] == plan_entry and patched["status"] == "ACTIVE"
    assert patched["effectiveUntil"] == "2026-01-25T00:00:00Z"
    assert patched["used"] == 40
    assert m.figures(account) == (150.5, 110.5, 20, 0)
    # granted may come down to exactly what was used, never below it.
    r = api.patch(path, json={"granted": 40})
    assert r.status_code == 200 and r.json()["balance"] == 0, r.text
    assert "40" in error_message(api.patch(path, json={"granted": 39.99}), 400)
    assert "future" in error_message(
        api.patch(path, json={"effectiveUntil": "2026-01-09T00:00:00Z"}), 400
    )
    assert "future" in error_message(
        api.patch(path, json={"effectiveUntil": "2026-01-10T00:00:00Z"}), 400
    )
    assert "granted" in error_message(api.patch(path, json={"granted": -1}), 400)
    assert "used" in error_message(api.patch(path, json={"used": 0}), 400)
    assert "effectiveUntil" in error_message(api.patch(path, json={"effectiveUntil": "soon"}), 400)
    r = api.patch(path, json={"effectiveUntil": "9999-12-31T23:59:59-01:00"})
    assert "effectiveUntil" in error_message(r, 400)
    entry = _by_id(m.entries(account))[plan_entry]
    assert (entry["granted"], entry["effectiveUntil"]) == (40, "2026-01-25T00:00:00Z")

    # An expired entry (read as EXPIRED, no sweeper) and a voided one cannot change.
    clock.set_clock("2026-01-25T00:00:00Z")
    assert _by_id(m.entries(account))[plan_entry]["status"] == "EXPIRED"
    assert "EXPIRED" in error_message(api.patch(path, json={"granted": 500}), 400)
    overage = m.entry_path(account, f"{sch}#2026-01-01$OVERAGE")
    r = api.post(overage + "/void")
    assert r.status_code == 200 and r.json() == {"success": True}, r.text
    assert "VOIDED" in error_message(api.patch(overage, json={"granted": 500}), 400)

    error_message(api.patch(m.entry_path(account, "entry.nope"), json={"granted": 1}), 404)
    error_message(api.patch(m.entry_path("no-account", plan_entry), json={"granted": 1}), 404)


def test_void_entry_makes_the_remainder_unusable(clock: Server, api: httpx.Client) -> None:
    clock.set_clock("2026-02-01T00:00:00Z")
    m = Metered(api)
    account = new_account(api)
    entry = grant_entry(api, account, m.feature, 10)
    m.consume(account, "4", "2026-02-01T00:00:00Z")
    path = m.entry_path(account, entry["id"])
    clock.set_clock("2026-02-01T01:00:00Z")
    r = api.post(path + "/void")
    assert r.status_code == 200, r.text
    assert r.json() == {"success": True}
    [voided] = m.entries(account)
    # Voided: the remainder is gone, so the balance shows 0; what was used stays.
    assert voided["status"] == "VOIDED" and voided["used"] == 4 and voided["balance"] == 0
    assert m.figures(account) == (0, 0, None, 0)
    assert m.figures(account, asOf="2026-02-01T00:30:00Z") == (10, 6, None, 0)
    r = api.post(
        "/entitled", json=usage_event(m.schema, account, "2026-02-01T00:00:00Z", tokens="1")
    )
    error_message(r, 403)
    # Voiding again answers the same; the entry stays as it was.
    again = api.post(path + "/void")
    assert again.status_code == 200 and again.json() == {"success": True}, again.text
    assert m.entries(account) == [voided]
    # An expired entry cannot be voided.
    short = grant_entry(api, account, m.feature, 3, effectiveUntil="2026-02-02T00:00:00Z")
    clock.set_clock("2026-02-03T00:00:00Z")
    error_message(api.post(m.entry_path(account, short["id"]) + "/void"), 400)
    error_message(api.post(m.entry_path(account, "entry.nope") + "/void"), 404)
    error_message(
        api.post(f"/accounts/{account}/features/no-feature/entries/{entry['id']}/void"), 404
    )


def test_entitlement_values_from_plan_purchases_and_usage(clock: Server, api: httpx.Client) -> None:
    clock.set_clock("2026-01-10T00:00:00Z")
    m = Metered(api)
    flag = new_feature(api, valueType="BOOLEAN")
    tier = new_feature(api, valueType="ENUM", allowedValues=["basic", "gold"])
    unheld = new_feature(api, valueType="STRING")
    plan = new_plan(
        api,
        [
            {"featureId": m.feature, "creditsPerCycle": 10, "overagePerCycle": 2},
            {"featureId": flag, "value": "true"},
            {"featureId": tier, "value": "basic"},
        ],
    )
    account = new_account(api)
    assert api.get(f"/accounts/{account}/entitlements").json() == {"data": []}
    assign_plan(api, account, plan, "2026-01-01")
    expected = {m.feature: "true", flag: "true", tier: "basic"}
    r = api.get(f"/accounts/{account}/entitlements")
    assert r.status_code == 200, r.text
    assert r.json()["data"] == [{"featureId": f, "value": v} for f, v in sorted(expected.items())]
    one = api.get(f"/accounts/{account}/entitlements/{tier}")
    assert one.status_code == 200 and one.json() == {
        "data": [{"featureId": tier, "value": "basic"}]
    }, one.text
    error_message(api.get(f"/accounts/{account}/entitlements/{unheld}"), 404)
    error_message(api.get(f"/accounts/{account}/entitlements/no-feature"), 404)
    error_message(api.get("/accounts/no-account/entitlements"), 404)

    # The set value overrides the plan's.
    api.put(f"/accounts/{account}/entitlements/{tier}", json={"value": "gold"})
    assert api.get(f"/accounts/{account}/entitlements/{tier}").json()["data"][0]["value"] == "gold"

    # A metered feature is "true" while balance + remaining overage > 0.
    m.consume(account, "11", "2026-01-10T00:00:00Z")
    assert (
        api.get(f"/accounts/{account}/entitlements/{m.feature}").json()["data"][0]["value"]
        == "true"
    )
    m.consume(account, "1", "2026-01-10T00:00:00Z")
    value = api.get(f"/accounts/{account}/entitlements/{m.feature}").json()["data"][0]["value"]
    assert value == "false"
    # A new cycle restores it.
    clock.set_clock("2026-02-01T00:00:00Z")
    value = api.get(f"/accounts/{account}/entitlements/{m.feature}").json()["data"][0]["value"]
    assert value == "true"


def _validate(api: httpx.Client, account: str, feature: str, value: Any) -> bool:
    r = api.post(f"/accounts/{account}/entitlements/{feature}", json={"value": value})
    assert r.status_code == 200, r.text
    body = r.json()
    assert list(body) == ["success"]
    ok: bool = body["success"]
    return ok


def test_validate_per_value_type(api: httpx.Client) -> None:
    on = new_feature(api, valueType="BOOLEAN")
    off = new_feature(api, valueType="BOOLEAN")
    seats = new_feature(api, valueType="NUMERIC")
    tier = new_feature(api, valueType="ENUM", allowedValues=["basic", "gold"])
    region = new_feature(api, valueType="STRING")
    unheld = new_feature(api, valueType="BOOLEAN")
    account = new_account(api)
    for fid, value in ((on, "true"), (off, "false"), (seats, "10"), (tier, "gold"), (region, "eu")):
        assert (
            api.put(f"/accounts/{account}/entitlements/{fid}", json={"value": value}).status_code
            == 200
        )

    cases = [
        (on, "true", True),
        (on, "false", True),
        (off, "true", False),
        (off, "false", True),
        (seats, "10", True),
        (seats, "9.5", True),
        (seats, "10.01", False),
        (seats, "many", False),
        (tier, "gold", True),
        (tier, "basic", False),
        (region, "eu", True),
        (region, "EU", False),
        (unheld, "true", False),
    ]
    assert [(f, v, _validate(api, account, f, v)) for f, v, _ in cases] == cases
    error_message(api.post(f"/accounts/{account}/entitlements/{on}", json={"value": True}), 400)
    error_message(api.post(f"/accounts/{account}/entitlements/{on}", json={}), 400)
    error_message(
        api.post(f"/accounts/{account}/entitlements/no-feature", json={"value": "1"}), 404
    )
    error_message(api.post(f"/accounts/no-account/entitlements/{on}", json={"value": "1"}), 404)


def test_validate_metered_is_a_check_that_consumes_nothing(
    clock: Server, api: httpx.Client
) -> None:
    clock.set_clock("2026-01-10T00:00:00Z")
    m = Metered(api)
    account = new_account(api)
    assert not _validate(api, account, m.feature, "1")
    assign_plan(api, account, m.plan(100, 20), "2026-01-01")
    m.consume(account, "30", "2026-01-10T00:00:00Z")
    assert _validate(api, account, m.feature, "90")
    assert not _validate(api, account, m.feature, "90.5")
    assert _validate(api, account, m.feature, "0.5")
    assert _validate(api, account, m.feature, "true")
    for _ in range(3):
        assert _validate(api, account, m.feature, "90")
    assert m.figures(account) == (100, 70, 20, 0)
    m.consume(account, "90", "2026-01-10T00:00:00Z")
    assert not _validate(api, account, m.feature, "1")
    assert not _validate(api, account, m.feature, "true")
    assert _validate(api, account, m.feature, "0")


def test_validate_rounds_a_quantity_as_the_gate_does(clock: Server, api: httpx.Client) -> None:
    """One rule: more than 10 fractional digits are rounded half-even to 10 before comparing,
    so validate answers yes exactly where the gate would accept the event."""
    clock.set_clock("2026-01-10T00:00:00Z")
    m = Metered(api)
    account = new_account(api)
    grant_entry(api, account, m.feature, 1)
    assert _validate(api, account, m.feature, "1.00000000004")  # 1: covered
    assert _validate(api, account, m.feature, "1.00000000005")  # half-even: 1
    assert not _validate(api, account, m.feature, "1.00000000015")  # 1.0000000002
    assert not _validate(api, account, m.feature, "1.0000000001")
    # The gate agrees on the same quantities, and takes the rounded amount.
    refused = api.post(
        "/entitled",
        json=usage_event(m.schema, account, "2026-01-10T00:00:00Z", tokens="1.00000000015"),
    )
    assert "needed 1.0000000002" in error_message(refused, 403)
    m.consume(account, "1.00000000004", "2026-01-10T00:00:00Z")
    assert m.figures(account)[1] == 0


# --- tenancy and the ledger check ----------------------------------------------------------------


def test_entitlements_are_private_to_their_organization(server: Server, api: httpx.Client) -> None:
    m = Metered(api)
    account = new_account(api)
    entry = grant_entry(api, account, m.feature, 10)
    plan = m.plan()
    assign_plan(api, account, plan, "2026-01-01")
    purchase_plan = new_plan(api, [{"featureId": m.feature, "creditsPerCycle": 1}], "PURCHASE")
    r = api.post(
        f"/accounts/{account}/purchases",
        json={"pricePlanId": purchase_plan, "rateCardQuantities": {m.feature: 1}},
    )
    assert r.status_code == 200, r.text
    purchase_id = r.json()["id"]
    before = m.entries(account)
    with server.client() as other:
        error_message(other.get(f"/purchases/{purchase_id}"), 404)
        error_message(other.get(f"/accounts/{account}/plans"), 404)
        error_message(
            other.put(f"/accounts/{account}/entitlements/{m.feature}", json={"value": "true"}), 404
        )
        error_message(
            other.post(f"/accounts/{account}/entitlements/{m.feature}", json={"value": "1"}), 404
        )
        mine = new_account(other)
        error_message(other.get(f"/accounts/{account}/features/{m.feature}"), 404)
        error_message(other.get(f"/accounts/{account}/features/{m.feature}/entries"), 404)
        error_message(other.get(f"/accounts/{account}/entitlements"), 404)
        error_message(other.post(m.entry_path(account, entry["id"]) + "/void"), 404)
        error_message(other.patch(m.entry_path(account, entry["id"]), json={"granted": 1}), 404)
        error_message(
            other.post(
                f"/accounts/{mine}/plans", json={"planId": plan, "effectiveFrom": "2026-01-01"}
            ),
            404,
        )
        error_message(
            other.post(f"/accounts/{mine}/features/{m.feature}/entries", json={"granted": 1}), 404
        )
        r = other.post(
            f"/accounts/{mine}/purchases",
            json={"pricePlanId": plan, "rateCardQuantities": {m.feature: 1}},
        )
        error_message(r, 404)
    assert m.entries(account) == before and entry in before


def test_ledger_verifies_after_entitlement_scenarios(clock: Server, api: httpx.Client) -> None:
    clock.set_clock("2026-01-10T00:00:00Z")
    m = Metered(api)
    account = new_account(api)
    assign_plan(api, account, m.plan(2, 2), "2026-01-01")
    grant_entry(api, account, m.feature, 0.1)
    m.consume(account, "3.1", "2026-01-10T00:00:00Z")
    clock.set_clock("2026-02-10T00:00:00Z")
    m.consume(account, "1", "2026-02-10T00:00:00Z")
    result = run_cli(clock.database_url, "verify")
    assert result.returncode == 0, result.stdout + result.stderr
