"""Every balance and total is exact at the documented maximum (18 integer and 10 fractional
digits per amount, docs/api.md "Amounts"), on both databases: the credit balance (now and
`asOf`, whose past figures PostgreSQL sums in SQL), holds, feature credits, purchases, the
console's figures and `grantledger verify`. Python's default decimal context keeps 28
significant digits, so two amounts at the maximum used to sum to 2000000000000000000."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import httpx

from tests.api.console_client import Console, text_by_testid
from tests.helpers import credit_request, error_message, new_account, new_feature, new_schema
from tests.helpers import new_plan as plan_of
from tests.servers import Server, run_cli

MAX = "999999999999999999.9999999999"
# Stand-ins for numbers in a body until it is written as JSON (the json module cannot write a
# Decimal as a number, and a float would round these).
_AT_MAX, _ODD, _MORE = "@@max@@", "@@odd@@", "@@more@@"
_NUMBERS = {_AT_MAX: MAX, _ODD: "123456789012345678.5", _MORE: "1.0000000001"}
TWICE = Decimal("1999999999999999999.9999999998")
FOUR_TIMES = Decimal("3999999999999999999.9999999996")


def _send(api: httpx.Client, method: str, path: str, body: dict[str, Any]) -> httpx.Response:
    """`body` as JSON, its stand-ins written as the numbers they stand for."""
    text = json.dumps(body)
    for stand_in, number in _NUMBERS.items():
        text = text.replace(f'"{stand_in}"', number)
    return api.request(method, path, content=text, headers={"content-type": "application/json"})


def _exact(r: httpx.Response) -> dict[str, Any]:
    """The JSON object of a 200, its numbers read exactly."""
    assert r.status_code == 200, r.text
    body: dict[str, Any] = json.loads(r.text, parse_float=Decimal)
    return body


def test_credit_figures_are_exact_at_the_maximum(clock: Server, api: httpx.Client) -> None:
    clock.set_clock("2026-05-10T12:00:00Z")
    account = new_account(api)
    requests = [credit_request(account, _AT_MAX) for _ in range(2)] + [
        credit_request(account, _AT_MAX, effectiveFrom="2027-01-01") for _ in range(2)
    ]
    _exact(_send(api, "POST", "/credits", {"creditRequests": requests}))
    path = f"/accounts/{account}/credit_balance"
    balance = _exact(api.get(path))
    assert [balance[k] for k in ("activeCredits", "availableBalance", "runningBalance")] == [
        TWICE,
        TWICE,
        TWICE,
    ]
    assert balance["inapplicableCredits"] == TWICE

    # A hold of two lines at the maximum: its totals and the balance it leaves.
    clock.set_clock("2026-05-10T13:00:00Z")
    lines = [{"entityId": "x", "amount": _AT_MAX}, {"entityId": "y", "amount": _AT_MAX}]
    hold = _send(
        api, "POST", f"/accounts/{account}/credit_holds", {"invoiceId": "i", "lines": lines}
    )
    held = _exact(hold)
    assert (held["requestedAmount"], held["coveredAmount"], held["uncoveredAmount"]) == (
        TWICE,
        TWICE,
        0,
    )
    balance = _exact(api.get(path))
    assert (balance["availableBalance"], balance["runningBalance"]) == (TWICE, 0)
    clock.set_clock("2026-05-11T12:00:00Z")
    _exact(api.post(f"/accounts/{account}/credit_holds/i/capture"))
    assert _exact(api.get(path))["availableBalance"] == 0
    # The past, rebuilt from the ledger (PostgreSQL sums the debits since then in SQL).
    then = _exact(api.get(path, params={"asOf": "2026-05-11T00:00:00Z"}))
    assert (then["availableBalance"], then["runningBalance"]) == (TWICE, 0)
    then = _exact(api.get(path, params={"asOf": "2026-05-10T12:30:00Z"}))
    assert (then["availableBalance"], then["runningBalance"]) == (TWICE, TWICE)


def test_feature_and_purchase_figures_are_exact_at_the_maximum(
    clock: Server, api: httpx.Client
) -> None:
    clock.set_clock("2026-05-10T12:00:00Z")
    schema = new_schema(api, ("tokens",))
    feature = new_feature(api, [(schema, "tokens")])
    account = new_account(api)
    entries = f"/accounts/{account}/features/{feature}/entries"
    for source in ("ENTITLEMENT", "REFUND", "OVERAGE", "OVERAGE"):
        _exact(_send(api, "POST", entries, {"granted": _AT_MAX, "source": source}))
    credits = f"/accounts/{account}/features/{feature}"
    got = _exact(api.get(credits))
    assert (got["granted"], got["balance"], got["overageLimit"], got["usedOverage"]) == (
        TWICE,
        TWICE,
        TWICE,
        0,
    )
    clock.set_clock("2026-05-11T12:00:00Z")
    event = {
        "event": {
            "schemaName": schema,
            "timestamp": "2026-05-11T12:00:00Z",
            "accountId": account,
            "attributes": [{"name": "tokens", "value": MAX}],
            "dimensions": {},
        }
    }
    assert api.post("/entitled", json=event).status_code == 200
    assert _exact(api.get(credits))["balance"] == Decimal(MAX)
    # The past, rebuilt from the draws (PostgreSQL sums the draws since then in SQL).
    then = _exact(api.get(credits, params={"asOf": "2026-05-11T00:00:00Z"}))
    assert (then["granted"], then["balance"], then["overageLimit"]) == (TWICE, TWICE, TWICE)

    # A purchase at the maximum, and the purchase rule's product computed exactly: one with
    # 11 decimal places is refused, however many digits it has (it used to be rounded to 28
    # significant digits first, and pass with an amount nobody asked for).
    plan = plan_of(api, [{"featureId": feature, "creditsPerCycle": 1}], "PURCHASE")
    _exact(
        _send(
            api,
            "POST",
            "/entitlement_plans",
            {
                "id": "max-" + plan,
                "name": "At the maximum",
                "type": "PURCHASE",
                "features": [{"featureId": feature, "creditsPerCycle": _AT_MAX}],
            },
        )
    )
    bought = _exact(api.post(f"/accounts/{account}/purchases", json={"pricePlanId": "max-" + plan}))
    [line] = _exact(api.get(f"/purchases/{bought['id']}"))["features"]
    assert (line["creditsGranted"], line["creditsAvailable"]) == (Decimal(MAX), Decimal(MAX))
    odd = {
        "id": "odd-" + plan,
        "name": "Odd",
        "type": "PURCHASE",
        "features": [{"featureId": feature, "creditsPerCycle": _ODD}],
    }
    _exact(_send(api, "POST", "/entitlement_plans", odd))
    purchase = {"pricePlanId": odd["id"], "rateCardQuantities": {feature: _MORE}}
    refused = _send(api, "POST", f"/accounts/{account}/purchases", purchase)
    assert "11 decimal places" in error_message(refused, 400)


def test_console_and_verify_are_exact_at_the_maximum(
    clock: Server, api: httpx.Client, server: Server
) -> None:
    clock.set_clock("2026-05-10T12:00:00Z")
    account = new_account(api)
    requests = [credit_request(account, _AT_MAX, effectiveFrom="2026-05-01") for _ in range(4)]
    _exact(_send(api, "POST", "/credits", {"creditRequests": requests}))
    lines = [{"entityId": "x", "amount": _AT_MAX}, {"entityId": "y", "amount": _AT_MAX}]
    body = {"invoiceId": "d", "lines": lines}
    _exact(_send(api, "POST", f"/accounts/{account}/credit_debits", body))
    console = Console(server, api.headers["Authorization"].removeprefix("Bearer "))
    try:
        page = console.get(f"/console/accounts/{account}").text
        assert text_by_testid(page, "available-balance") == str(TWICE)
        assert text_by_testid(page, "active-credits") == str(TWICE)  # two are CONSUMED
        month = re.search(r'<tr data-month="2026-05">(.*?)</tr>', page)
        assert month is not None
        cells = re.findall(r'<td class="num">([^<]*)</td>', month.group(1))
        assert cells[:2] == [str(FOUR_TIMES), str(TWICE)]  # granted, spent
        listed = console.get("/console/accounts", q=account).text
        assert str(TWICE) in listed and "2000000000000000000<" not in listed
        then = console.get(f"/console/accounts/{account}", asOf="2026-05-10T12:00:00Z").text
        assert text_by_testid(then, "as-of-available") == str(TWICE)
    finally:
        console.close()
    result = run_cli(server.database_url, "verify")
    assert result.returncode == 0, result.stdout + result.stderr
