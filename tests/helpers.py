"""Small builders shared by the API tests."""

from __future__ import annotations

import secrets
from typing import Any

import httpx


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


def grant(api: httpx.Client, account_id: str, amount: Any, **fields: Any) -> dict[str, Any]:
    request = {
        "accountId": account_id,
        "purpose": "Prepaid Credit",
        "effectiveFrom": fields.pop("effectiveFrom", "2020-01-01"),
        "priority": fields.pop("priority", 1),
        "creditAmount": amount,
        **fields,
    }
    r = api.post("/credits", json={"creditRequests": [request]})
    assert r.status_code == 200, r.text
    credit: dict[str, Any] = r.json()["credits"][0]
    return credit


def balance(api: httpx.Client, account_id: str, **params: Any) -> dict[str, Any]:
    r = api.get(f"/accounts/{account_id}/credit_balance", params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body
