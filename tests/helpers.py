"""Small builders shared by the API tests."""

from __future__ import annotations

import secrets
from typing import Any

import httpx


def ok_json(r: httpx.Response, status: int = 200) -> dict[str, Any]:
    """The JSON object of a response that must have answered `status`."""
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    return body


def error_message(r: httpx.Response, status: int) -> str:
    """The message of an error that must have answered `status` with exactly
    `{"message": "<non-empty text>"}` as JSON."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert list(body) == ["message"] and isinstance(body["message"], str) and body["message"]
    message: str = body["message"]
    return message


def new_account(api: httpx.Client, currency: str = "USD", account_id: str | None = None) -> str:
    account_id = account_id or "acc-" + secrets.token_hex(4)
    customer_id = "cus-" + secrets.token_hex(4)
    r = api.post(
        "/customers",
        json={
            "id": customer_id,
            "name": "Customer " + customer_id,
            "primaryEmail": "billing@example.com",
            "address": {"country": "US"},
            "account": {
                "id": account_id,
                "name": "Account " + account_id,
                "invoiceCurrency": currency,
            },
        },
    )
    assert r.status_code == 201, r.text
    return account_id


def credit_request(account_id: str, amount: Any, **fields: Any) -> dict[str, Any]:
    """One entry of `creditRequests`: a prepaid credit effective since 2020, priority 1."""
    return {
        "accountId": account_id,
        "purpose": "Prepaid Credit",
        "effectiveFrom": fields.pop("effectiveFrom", "2020-01-01"),
        "priority": fields.pop("priority", 1),
        "creditAmount": amount,
        **fields,
    }


def grant(api: httpx.Client, account_id: str, amount: Any, **fields: Any) -> dict[str, Any]:
    request = credit_request(account_id, amount, **fields)
    answer = ok_json(api.post("/credits", json={"creditRequests": [request]}))
    credit: dict[str, Any] = answer["credits"][0]
    return credit


def balance(api: httpx.Client, account_id: str, **params: Any) -> dict[str, Any]:
    return ok_json(api.get(f"/accounts/{account_id}/credit_balance", params=params))


# --- entitlements builders ------------------------------------------------------------------


def new_schema(api: httpx.Client, attributes: tuple[str, ...] = ("tokens",)) -> str:
    name = "usage_" + secrets.token_hex(4)
    r = api.post(
        "/event_schema",
        json={
            "name": name,
            "attributes": [{"name": a} for a in attributes],
            "dimensions": [{"name": "region"}],
        },
    )
    assert r.status_code == 201, r.text
    return name


def new_feature(
    api: httpx.Client,
    associations: list[tuple[str, str]] | None = None,
    **fields: Any,
) -> str:
    body: dict[str, Any] = {
        "name": fields.pop("name", "Feature " + secrets.token_hex(3)),
        "schemaAssociations": [
            {"schemaName": s, "attributeName": a} for s, a in (associations or [])
        ],
        **fields,
    }
    feature_id: str = ok_json(api.post("/features", json=body))["id"]
    return feature_id


def new_plan(
    api: httpx.Client,
    features: list[dict[str, Any]],
    plan_type: str = "BILLING",
    cycle: str = "MONTHLY",
    **fields: Any,
) -> str:
    body = {
        "name": "Plan " + secrets.token_hex(3),
        "type": plan_type,
        "cycle": cycle,
        "features": features,
        **fields,
    }
    plan_id: str = ok_json(api.post("/entitlement_plans", json=body))["id"]
    return plan_id


def assign_plan(
    api: httpx.Client, account_id: str, plan_id: str, effective_from: str, **fields: Any
) -> dict[str, Any]:
    return ok_json(
        api.post(
            f"/accounts/{account_id}/plans",
            json={"planId": plan_id, "effectiveFrom": effective_from, **fields},
        )
    )


def grant_entry(
    api: httpx.Client, account_id: str, feature_id: str, granted: Any, **fields: Any
) -> dict[str, Any]:
    return ok_json(
        api.post(
            f"/accounts/{account_id}/features/{feature_id}/entries",
            json={"granted": granted, **fields},
        )
    )


def usage_event(
    schema: str, account_id: str, timestamp: str, event_id: str | None = None, **attributes: str
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "schemaName": schema,
        "timestamp": timestamp,
        "accountId": account_id,
        "attributes": [{"name": k, "value": v} for k, v in attributes.items()],
        "dimensions": {},
    }
    if event_id is not None:
        event["id"] = event_id
    return {"event": event}


def feature_credits(
    api: httpx.Client, account_id: str, feature_id: str, **params: Any
) -> dict[str, Any]:
    return ok_json(api.get(f"/accounts/{account_id}/features/{feature_id}", params=params))


def feature_entries(api: httpx.Client, account_id: str, feature_id: str) -> list[dict[str, Any]]:
    """Every entry of an account's feature, newest first, across all pages."""
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {}
    while True:
        r = api.get(f"/accounts/{account_id}/features/{feature_id}/entries", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        found.extend(body.get("data", []))
        if not body.get("nextToken"):
            return found
        params = {"nextToken": body["nextToken"]}
