"""Auto top-up keys never collide and its monthly cap survives re-configuration.

Each top-up's credit carries the idempotency key `auto_topup:{account}:{n}`. `DELETE` then `PUT`
used to start `n` and the month's count from 0 again, so the next top-up's key was an earlier
top-up's and every write crossing the threshold answered 503 (the same with a caller's credit
holding that key); and the monthly cap could be reset by re-configuring.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import httpx
import sqlalchemy as sa

from grantledger.store.engine import DatabaseOptions, create_engine
from tests.helpers import credit_request, error_message, grant, new_account, ok_json
from tests.servers import Server, iter_pages

NOW = "2030-06-15T12:00:00Z"
SETTING = {"thresholdAmount": 50, "topupAmount": 100, "maxPerMonth": 10}


def _debit(api: httpx.Client, account: str, invoice: str, amount: int) -> httpx.Response:
    body = {"invoiceId": invoice, "lines": [{"entityId": "x", "amount": amount}]}
    return api.post(f"/accounts/{account}/credit_debits", json=body)


def _topups(api: httpx.Client, account: str) -> list[dict[str, Any]]:
    credits = iter_pages(api, "/credits", account_id=account)
    return [c for c in credits if c["purpose"] == "Auto top-up"]


def _setting(api: httpx.Client, account: str, **changes: Any) -> dict[str, Any]:
    return ok_json(api.put(f"/accounts/{account}/auto_topup", json={**SETTING, **changes}))


def test_delete_and_put_keep_the_counter_and_the_keys_never_repeat(
    clock: Server, api: httpx.Client
) -> None:
    clock.set_clock(NOW)
    account = new_account(api)
    grant(api, account, 100)
    _setting(api, account)
    ok_json(_debit(api, account, "inv-1", 60))  # 40 < 50: topped up to 140
    assert ok_json(api.delete(f"/accounts/{account}/auto_topup")) == {"success": True}
    error_message(api.get(f"/accounts/{account}/auto_topup"), 404)
    error_message(api.delete(f"/accounts/{account}/auto_topup"), 404)
    # A write below the line while there is no setting tops nothing up.
    ok_json(_debit(api, account, "inv-2", 95))  # 45
    assert len(_topups(api, account)) == 1
    ok_json(_debit(api, account, "inv-3", 45))  # 0: back to a clean crossing next
    grant(api, account, 100)
    again = _setting(api, account)
    assert again["topupsThisMonth"] == 1  # the month's count came back with it
    r = _debit(api, account, "inv-4", 60)  # 40 < 50 again: this used to be a 503
    assert r.status_code == 200, r.text
    keys = sorted(c["idempotencyKey"] for c in _topups(api, account))
    assert keys == [f"auto_topup:{account}:1", f"auto_topup:{account}:2"]
    assert ok_json(api.get(f"/accounts/{account}/auto_topup"))["topupsThisMonth"] == 2
    assert ok_json(api.get(f"/accounts/{account}/credit_balance"))["runningBalance"] == 140


def test_the_monthly_cap_survives_re_configuration(clock: Server, api: httpx.Client) -> None:
    clock.set_clock(NOW)
    account = new_account(api)
    grant(api, account, 100)
    _setting(api, account, maxPerMonth=1)
    ok_json(_debit(api, account, "inv-1", 60))  # topped up: the month's one
    ok_json(api.delete(f"/accounts/{account}/auto_topup"))
    assert _setting(api, account, maxPerMonth=1)["topupsThisMonth"] == 1
    ok_json(_debit(api, account, "inv-2", 100))  # 40: below again, but the cap is reached
    assert len(_topups(api, account)) == 1
    # A new month brings the cap back.
    clock.set_clock("2030-07-01T00:00:00Z")
    grant(api, account, 100)
    ok_json(_debit(api, account, "inv-3", 100))
    assert len(_topups(api, account)) == 2


def test_callers_cannot_take_a_top_up_key(clock: Server, api: httpx.Client) -> None:
    clock.set_clock(NOW)
    account = new_account(api)
    request = credit_request(account, 5, idempotencyKey=f"auto_topup:{account}:1")
    message = error_message(api.post("/credits", json={"creditRequests": [request]}), 400)
    assert message == (
        "creditRequests[0].idempotencyKey: keys beginning auto_topup: are reserved for the "
        "credits auto top-up grants"
    )
    assert list(iter_pages(api, "/credits", account_id=account)) == []


def _rekey(url: str, credit_id: str, key: str) -> None:
    """Give a credit another idempotency key behind the API's back: a caller's credit made
    before the namespace was reserved."""

    async def run() -> None:
        # Through the pooler the run uses, if any (GRANTLEDGER_TEST_POOLER: tests/conftest.py).
        pooler = os.environ.get("GRANTLEDGER_DB_POOLER") or None
        engine = create_engine(url, DatabaseOptions(pool_size=1, pooler=pooler))
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    sa.text("UPDATE credits SET idempotency_key = :key WHERE id = :id"),
                    {"key": key, "id": credit_id},
                )
        finally:
            await engine.dispose()

    asyncio.run(run())


def test_a_top_up_steps_past_keys_taken_before_the_upgrade(
    clock: Server, api: httpx.Client
) -> None:
    clock.set_clock(NOW)
    account = new_account(api)
    grant(api, account, 100)
    # Keys a top-up of this account would take, held by credits of this and another account.
    other = new_account(api)
    for n, owner in ((1, account), (2, other)):
        legacy = grant(api, owner, 1, priority=9, idempotencyKey=f"legacy-{n}-{owner}")
        _rekey(clock.database_url, legacy["id"], f"auto_topup:{account}:{n}")
    _setting(api, account)
    r = _debit(api, account, "inv-1", 60)
    assert r.status_code == 200, r.text  # a 503 before: the key was taken
    [topup] = _topups(api, account)
    assert topup["idempotencyKey"] == f"auto_topup:{account}:3"
    # The counter moved past them for good.
    ok_json(_debit(api, account, "inv-2", 100))
    grant(api, account, 100)
    ok_json(_debit(api, account, "inv-3", 100))
    keys = sorted(c["idempotencyKey"] for c in _topups(api, account))
    assert keys == [f"auto_topup:{account}:3", f"auto_topup:{account}:4"]
