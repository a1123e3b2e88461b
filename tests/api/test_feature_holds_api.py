"""Feature holds over HTTP on SQLite and PostgreSQL: reserve units, settle, release, expire.

A hold is judged like `/entitled` and its units are drawn at once, so every read and the gate
see them; settling draws what was really used, releasing and expiring give everything back.
"""

from __future__ import annotations

from typing import Any

import httpx

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
    ok_json,
    usage_event,
)
from tests.servers import Server

NOW = "2026-03-10T12:00:00Z"


class World:
    """An account with a `tokens` and an `images` feature, both metered by one schema."""

    def __init__(self, api: httpx.Client) -> None:
        self.api = api
        self.schema = new_schema(api, ("tokens", "images"))
        self.tokens = new_feature(api, [(self.schema, "tokens")], name="Tokens")
        self.images = new_feature(api, [(self.schema, "images")], name="Images")
        self.account = new_account(api)
        self.base = f"/accounts/{self.account}/feature_holds"

    def hold(self, hold_id: str, expires_in: str | None = None, **units: Any) -> httpx.Response:
        body: dict[str, Any] = {
            "id": hold_id,
            "features": [{"featureId": getattr(self, f), "units": u} for f, u in units.items()],
        }
        if expires_in is not None:
            body["expiresIn"] = expires_in
        return self.api.post(self.base, json=body)

    def settle(self, hold_id: str, **units: Any) -> httpx.Response:
        features = [{"featureId": getattr(self, f), "units": u} for f, u in units.items()]
        return self.api.post(f"{self.base}/{hold_id}/settle", json={"features": features})

    def release(self, hold_id: str) -> httpx.Response:
        return self.api.post(f"{self.base}/{hold_id}/release")

    def get(self, hold_id: str) -> dict[str, Any]:
        return ok_json(self.api.get(f"{self.base}/{hold_id}"))

    def balance(self, feature: str = "tokens") -> Any:
        return feature_credits(self.api, self.account, getattr(self, feature))["balance"]

    def entitled(self, tokens: str, event_id: str) -> httpx.Response:
        return self.api.post(
            "/entitled", json=usage_event(self.schema, self.account, NOW, event_id, tokens=tokens)
        )


def test_hold_then_settle_draws_the_actual_units(clock: Server, api: httpx.Client) -> None:
    clock.set_clock(NOW)
    w = World(api)
    grant_entry(api, w.account, w.tokens, 100)
    hold = ok_json(w.hold("call-1", tokens=60), 201)
    assert hold["status"] == "HELD" and hold["id"] == "call-1"
    assert hold["features"] == [{"featureId": w.tokens, "units": 60}]
    assert hold["expiresAt"] == "2026-03-10T12:15:00Z"  # 15 minutes unless asked
    assert w.balance() == 40
    assert feature_credits(api, w.account, w.tokens)["held"] == 60  # of the 60 used
    settled = ok_json(w.settle("call-1", tokens=45.5))
    assert settled["status"] == "SETTLED" and settled["closedAt"] == NOW
    assert settled["features"] == [{"featureId": w.tokens, "units": 60, "settledUnits": 45.5}]
    assert "shortfallUnits" not in settled
    assert w.balance() == 54.5
    assert "held" not in feature_credits(api, w.account, w.tokens)
    [entry] = feature_entries(api, w.account, w.tokens)
    assert (entry["used"], entry["balance"]) == (45.5, 54.5)
    # The same settlement again answers the hold; another one, or a release, is a conflict.
    assert ok_json(w.settle("call-1", tokens=45.5)) == settled
    assert "already settled" in error_message(w.settle("call-1", tokens=1), 409)
    assert "settled already" in error_message(w.release("call-1"), 409)
    assert w.balance() == 54.5
    # The settlement is usage in the events list; the reservation itself is not listed.
    listed = ok_json(api.get("/events", params={"account_id": w.account}))["events"]
    assert [e["referenceId"] for e in listed] == [settled["settlementReferenceId"]]
    assert [(d["amount"], d["reversed"]) for d in listed[0]["draws"]] == [(45.5, False)]


def test_settling_beyond_the_hold_draws_what_is_covered_and_records_the_rest(
    clock: Server, api: httpx.Client
) -> None:
    clock.set_clock(NOW)
    w = World(api)
    grant_entry(api, w.account, w.tokens, 100)
    ok_json(w.hold("a", tokens=30), 201)
    ok_json(w.hold("b", tokens=50), 201)
    assert w.balance() == 20
    settled = ok_json(w.settle("a", tokens=55))  # 30 held + the 20 free; 5 not covered
    assert settled["features"][0]["settledUnits"] == 55
    assert settled["features"][0]["shortfallUnits"] == 5 and settled["shortfallUnits"] == 5
    assert w.balance() == 0
    assert w.get("b")["status"] == "HELD"  # another hold's units are never taken
    released = ok_json(w.release("b"))
    assert released["status"] == "RELEASED"
    assert ok_json(w.release("b")) == released  # releasing again answers the same
    assert "cannot be settled: it was released" in error_message(w.settle("b", tokens=1), 409)
    assert w.balance() == 50


def test_all_or_nothing_across_features(clock: Server, api: httpx.Client) -> None:
    clock.set_clock(NOW)
    w = World(api)
    grant_entry(api, w.account, w.tokens, 100)
    grant_entry(api, w.account, w.images, 2)
    message = error_message(w.hold("x", tokens=10, images=3), 403)
    assert w.images in message
    assert (w.balance(), w.balance("images")) == (100, 2)
    assert ok_json(api.get(w.base))["data"] == []
    assert api.get(f"{w.base}/x").status_code == 404
    # Nothing was recorded under the id: it can be used once covered.
    ok_json(w.hold("x", tokens=10, images=2), 201)
    assert (w.balance(), w.balance("images")) == (90, 0)


def test_hold_interplay_with_the_gate(clock: Server, api: httpx.Client) -> None:
    clock.set_clock(NOW)
    w = World(api)
    grant_entry(api, w.account, w.tokens, 100)
    ok_json(w.hold("h", tokens=60), 201)
    assert w.entitled("50", "e1").status_code == 403
    assert w.entitled("40", "e2").status_code == 200
    assert w.balance() == 0
    assert w.tokens in error_message(w.hold("h2", tokens=1), 403)
    ok_json(w.release("h"))
    assert w.entitled("50", "e3").status_code == 200
    assert w.balance() == 10


def test_same_id_replays_and_another_body_conflicts(clock: Server, api: httpx.Client) -> None:
    clock.set_clock(NOW)
    w = World(api)
    grant_entry(api, w.account, w.tokens, 100)
    first = ok_json(w.hold("r", "PT5M", tokens=10), 201)
    assert ok_json(w.hold("r", "PT5M", tokens=10), 201) == first
    assert "different" in error_message(w.hold("r", "PT5M", tokens=11), 409)
    assert "different" in error_message(w.hold("r", "PT6M", tokens=10), 409)
    assert w.balance() == 90


def test_expiry_stops_counting_at_once(clock: Server, api: httpx.Client) -> None:
    clock.set_clock(NOW)
    w = World(api)
    grant_entry(api, w.account, w.tokens, 100)
    ok_json(w.hold("soon", "PT1M", tokens=70), 201)
    ok_json(w.hold("later", "PT2H", tokens=10), 201)
    assert w.balance() == 20
    clock.set_clock("2026-03-10T12:01:00Z")
    gone = w.get("soon")
    assert gone["status"] == "EXPIRED" and gone["closedAt"] == "2026-03-10T12:01:00Z"
    assert w.balance() == 90  # at once, before any write or sweeper gave the units back
    [entry] = feature_entries(api, w.account, w.tokens)
    assert (entry["used"], entry["balance"]) == (10, 90)
    assert feature_credits(api, w.account, w.tokens, asOf="2026-03-10T12:00:30Z")["balance"] == 20
    assert feature_credits(api, w.account, w.tokens, asOf="2026-03-10T12:01:00Z")["balance"] == 90
    assert "it expired" in error_message(w.settle("soon", tokens=1), 409)
    assert "it expired" in error_message(w.release("soon"), 409)
    statuses = {h["id"]: h["status"] for h in ok_json(api.get(w.base))["data"]}
    assert statuses == {"soon": "EXPIRED", "later": "HELD"}
    expired = ok_json(api.get(w.base, params={"status": "EXPIRED"}))["data"]
    assert [h["id"] for h in expired] == ["soon"]
    # The gate gives the expired hold's units back first, in its transaction.
    assert w.entitled("90", "all-of-it").status_code == 200
    assert w.get("soon")["status"] == "EXPIRED"
    assert w.balance() == 0
    # As of before the limit the hold still counted, after the expiry was written too.
    assert feature_credits(api, w.account, w.tokens, asOf="2026-03-10T12:00:30Z")["balance"] == 20


def test_bad_requests_change_nothing(clock: Server, api: httpx.Client) -> None:
    clock.set_clock(NOW)
    w = World(api)
    grant_entry(api, w.account, w.tokens, 100)
    cases = [
        ({"id": "b", "features": []}, "features"),
        ({"id": "b", "features": [{"featureId": w.tokens, "units": 0}]}, "units"),
        ({"id": "b", "features": [{"featureId": w.tokens, "units": -1}]}, "units"),
        ({"id": "b", "features": [{"featureId": w.tokens, "units": "5"}]}, "units"),
        ({"id": "b", "features": [{"featureId": w.tokens, "units": 1}] * 2}, "twice"),
        (
            {"id": "b", "features": [{"featureId": w.tokens, "units": 1}], "expiresIn": "PT25H"},
            "24",
        ),
        ({"id": "b", "features": [{"featureId": w.tokens, "units": 1}], "expiresIn": "P1M"}, "ISO"),
        ({"id": "b", "features": [{"featureId": w.tokens, "units": 1}], "expiresIn": "PT0S"}, "0"),
        ({"id": "b", "features": [{"featureId": w.tokens, "units": 1}], "ttl": 1}, "ttl"),
    ]
    for body, named in cases:
        assert named in error_message(api.post(w.base, json=body), 400), body
    assert "not found" in error_message(
        api.post(
            "/accounts/nobody/feature_holds",
            json=cases[0][0] | {"features": [{"featureId": w.tokens, "units": 1}]},
        ),
        404,
    )
    ok_json(w.hold("ok", tokens=10), 201)
    assert "not held" in error_message(w.settle("ok", images=1), 400)
    assert "status" in error_message(api.get(w.base, params={"status": "OPEN"}), 400)
    assert api.post(f"{w.base}/missing/settle", json={"features": []}).status_code == 404
    assert api.get("/accounts/nobody/feature_holds").status_code == 404
    assert w.balance() == 90


def test_every_read_sees_held_units_on_a_plan(clock: Server, api: httpx.Client) -> None:
    clock.set_clock(NOW)
    w = World(api)
    plan = new_plan(api, [{"featureId": w.tokens, "creditsPerCycle": 100}])
    assign_plan(api, w.account, plan, "2026-03-01")
    ok_json(w.hold("p", "PT10M", tokens=60), 201)
    assert w.balance() == 40
    at = f"/accounts/{w.account}/entitlements/{w.tokens}"
    assert ok_json(api.post(at, json={"value": "40"}))["success"] is True
    assert ok_json(api.post(at, json={"value": "41"}))["success"] is False
    assert ok_json(api.get(at))["data"] == [{"featureId": w.tokens, "value": "true"}]
    assert w.entitled("50", "plan-1").status_code == 403
    clock.set_clock("2026-03-10T12:10:00Z")
    assert w.balance() == 100  # expired: back at once on the plan's window too
    assert ok_json(api.post(at, json={"value": "100"}))["success"] is True
    assert w.entitled("100", "plan-2").status_code == 200
    assert w.balance() == 0
