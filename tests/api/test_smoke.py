"""The first path a new user takes: grant, debit, balance."""

from __future__ import annotations

import httpx

from tests.helpers import balance, grant, new_account


def test_grant_debit_balance(api: httpx.Client) -> None:
    account = new_account(api)
    grant(api, account, 100)
    r = api.post(
        f"/accounts/{account}/credit_debits",
        json={"invoiceId": "inv-1", "lines": [{"entityId": "api-calls", "amount": 0.3}]},
    )
    assert r.status_code == 200, r.text
    assert r.json()["coveredAmount"] == 0.3
    b = balance(api, account)
    assert b["availableBalance"] == 99.7
    assert b["runningBalance"] == 99.7
    assert b["activeCredits"] == 100
