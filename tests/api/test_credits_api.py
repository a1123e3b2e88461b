"""Monetary credits over HTTP: grant, statuses, void, expiry, burn-down, balances, lists."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest

from tests.helpers import balance, credit_request, error_message, grant, new_account, ok_json
from tests.servers import Server, iter_pages

ZERO_BALANCE = {
    "activeCredits": 0,
    "availableBalance": 0,
    "runningBalance": 0,
    "inapplicableCredits": 0,
}


def _details(api: httpx.Client, credit_id: str) -> dict[str, Any]:
    return ok_json(api.get(f"/credits/{credit_id}"))


def _txns(api: httpx.Client, credit_id: str) -> list[tuple[str, Any]]:
    return [(t["transactionType"], t["amount"]) for t in _details(api, credit_id)["transactions"]]


def _debit(
    api: httpx.Client,
    account_id: str,
    amount: Any,
    entity_id: str = "api-calls",
    entity_type: str | None = None,
    invoice_id: str | None = None,
) -> dict[str, Any]:
    line: dict[str, Any] = {"entityId": entity_id, "amount": amount}
    if entity_type is not None:
        line["entityType"] = entity_type
    body = {"invoiceId": invoice_id or "inv-" + secrets.token_hex(4), "lines": [line]}
    return ok_json(api.post(f"/accounts/{account_id}/credit_debits", json=body))


def _hold(api: httpx.Client, account_id: str, invoice_id: str, amount: Any) -> dict[str, Any]:
    body = {"invoiceId": invoice_id, "lines": [{"entityId": "api-calls", "amount": amount}]}
    return ok_json(api.post(f"/accounts/{account_id}/credit_holds", json=body))


def _list(api: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    return list(iter_pages(api, "/credits", **params))  # type: ignore[arg-type]


def _raw_grant_body(account_id: str, amount_text: str) -> str:
    """A grant body with the amount written verbatim, as JSON number text."""
    head = f'{{"creditRequests":[{{"accountId":"{account_id}","purpose":"p",'
    return head + f'"effectiveFrom":"2020-01-01","priority":1,"creditAmount":{amount_text}}}]}}'


def _figures(b: dict[str, Any]) -> dict[str, Any]:
    return {k: b[k] for k in ZERO_BALANCE}


# --- grant --------------------------------------------------------------------------------


def test_grant_returns_an_active_credit_with_one_credited_transaction(
    clock: Server, api: httpx.Client
) -> None:
    clock.set_clock("2027-01-01T10:00:00Z")
    account = new_account(api, currency="EUR")
    r = api.post(
        "/credits",
        json={
            "creditRequests": [
                credit_request(
                    account,
                    250.5,
                    priority=3,
                    effectiveFrom="2026-12-01",
                    effectiveUntil="2027-12-31",
                    applicableEntityIds=["meter-a", "meter-b"],
                    grantorId="addon.22IZs2ZVEnw.0zDFe",
                    idempotencyKey="key-" + secrets.token_hex(4),
                )
            ]
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert list(body) == ["credits"]
    credit = body["credits"][0]
    assert credit["id"].startswith("cred.") and len(credit["id"]) <= 50
    assert credit["accountId"] == account
    assert credit["customerId"]
    assert credit["purpose"] == "Prepaid Credit"
    assert credit["status"] == "ACTIVE"
    assert credit["creditAmount"] == 250.5
    assert credit["creditUnit"] == "EUR"
    assert credit["priority"] == 3 and isinstance(credit["priority"], int)
    assert credit["effectiveFrom"] == "2026-12-01"
    assert credit["effectiveUntil"] == "2027-12-31"
    assert credit["applicableEntityIds"] == ["meter-a", "meter-b"]
    assert credit["grantorId"] == "addon.22IZs2ZVEnw.0zDFe"
    assert credit["holdAmount"] == 0 and credit["consumedAmount"] == 0
    assert credit["createdAt"] == "2027-01-01T10:00:00Z"

    details = _details(api, credit["id"])
    assert {k: v for k, v in details.items() if k != "transactions"} == credit
    [txn] = details["transactions"]
    assert txn["transactionType"] == "CREDITED"
    assert txn["amount"] == 250.5
    assert txn["creditId"] == credit["id"]
    assert txn["id"].startswith("ctxn.")
    assert txn["createdAt"] == "2027-01-01T10:00:00Z"


def test_grant_batch_creates_every_credit(api: httpx.Client) -> None:
    a, b = new_account(api), new_account(api)
    r = api.post(
        "/credits",
        json={
            "creditRequests": [credit_request(a, 10), credit_request(b, 20), credit_request(a, 5)]
        },
    )
    assert r.status_code == 200, r.text
    credits = r.json()["credits"]
    assert [(c["accountId"], c["creditAmount"]) for c in credits] == [(a, 10), (b, 20), (a, 5)]
    assert balance(api, a)["activeCredits"] == 15
    assert balance(api, b)["activeCredits"] == 20


@pytest.mark.parametrize(
    ("bad", "status"),
    [
        ({"accountId": "no-such-account"}, 404),
        ({"creditAmount": -5}, 400),
        ({"effectiveFrom": "2027-02-01", "effectiveUntil": "2027-01-01"}, 400),
    ],
)
def test_grant_batch_is_all_or_nothing(api: httpx.Client, bad: dict[str, Any], status: int) -> None:
    account = new_account(api)
    batch = [
        credit_request(account, 10),
        {**credit_request(account, 20), **bad},
        credit_request(account, 30),
    ]
    error_message(api.post("/credits", json={"creditRequests": batch}), status)
    assert _list(api) == []
    assert _figures(balance(api, account)) == ZERO_BALANCE


def test_idempotency_key_replays_and_conflicts(api: httpx.Client) -> None:
    account = new_account(api)
    key = "grant-" + secrets.token_hex(4)
    first = grant(api, account, 100, idempotencyKey=key)
    again = grant(api, account, 100, idempotencyKey=key)
    assert again == first
    assert [c["id"] for c in _list(api)] == [first["id"]]
    assert _txns(api, first["id"]) == [("CREDITED", 100)]

    # Same key, different payload: 409, and nothing is written.
    for changed in ({"creditAmount": 101}, {"priority": 2}, {"effectiveUntil": "2030-01-01"}):
        request = {**credit_request(account, 100, idempotencyKey=key), **changed}
        message = error_message(api.post("/credits", json={"creditRequests": [request]}), 409)
        assert key in message
    # A batch mixing a conflicting replay with a new credit creates nothing either.
    batch = [credit_request(account, 7), credit_request(account, 99, idempotencyKey=key)]
    error_message(api.post("/credits", json={"creditRequests": batch}), 409)
    # A batch mixing an exact replay with a new credit returns both, creating one.
    batch = [credit_request(account, 100, idempotencyKey=key), credit_request(account, 7)]
    r = api.post("/credits", json={"creditRequests": batch})
    assert r.status_code == 200, r.text
    replayed, new = r.json()["credits"]
    assert replayed["id"] == first["id"]
    assert new["id"] != first["id"]
    assert sorted(c["creditAmount"] for c in _list(api)) == [7, 100]
    assert balance(api, account)["activeCredits"] == 107


def test_idempotency_key_replay_after_consumption_returns_current_credit(
    api: httpx.Client,
) -> None:
    account = new_account(api)
    key = "grant-" + secrets.token_hex(4)
    first = grant(api, account, 10, idempotencyKey=key)
    _debit(api, account, 4)
    again = grant(api, account, 10, idempotencyKey=key)
    assert again["id"] == first["id"]
    assert again["consumedAmount"] == 4
    assert len(_list(api)) == 1


def test_idempotency_keys_are_per_organization(server: Server, api: httpx.Client) -> None:
    key = "shared-" + secrets.token_hex(4)
    mine = grant(api, new_account(api), 10, idempotencyKey=key)
    with server.client() as other:
        theirs = grant(other, new_account(other), 10, idempotencyKey=key)
    assert theirs["id"] != mine["id"]


def test_duplicate_idempotency_keys_in_one_batch_are_refused(api: httpx.Client) -> None:
    account = new_account(api)
    batch = [
        credit_request(account, 1, idempotencyKey="k"),
        credit_request(account, 2, idempotencyKey="k"),
    ]
    assert "idempotencyKey" in error_message(
        api.post("/credits", json={"creditRequests": batch}), 400
    )
    assert _list(api) == []


# --- statuses, void -----------------------------------------------------------------------


def test_consumed_status_when_nothing_is_left(api: httpx.Client) -> None:
    account = new_account(api)
    credit = grant(api, account, 10)
    _debit(api, account, 4)
    assert _details(api, credit["id"])["status"] == "ACTIVE"
    _debit(api, account, 6)
    details = _details(api, credit["id"])
    assert details["status"] == "CONSUMED"
    assert details["consumedAmount"] == 10
    assert [c["id"] for c in _list(api, status="CONSUMED")] == [credit["id"]]
    assert _list(api, status="ACTIVE") == []
    assert _figures(balance(api, account)) == ZERO_BALANCE


def test_fully_held_credit_stays_active_until_captured(api: httpx.Client) -> None:
    account = new_account(api)
    credit = grant(api, account, 10)
    _hold(api, account, "inv-1", 10)
    held = _details(api, credit["id"])
    assert held["status"] == "ACTIVE"
    assert held["holdAmount"] == 10
    r = api.post(f"/accounts/{account}/credit_holds/inv-1/capture")
    assert r.status_code == 200, r.text
    assert _details(api, credit["id"])["status"] == "CONSUMED"


def test_void_cancels_the_remainder_and_is_idempotent(clock: Server, api: httpx.Client) -> None:
    clock.set_clock("2027-01-01T00:00:00Z")
    account = new_account(api)
    credit = grant(api, account, 10)
    clock.set_clock("2027-01-01T00:00:01Z")
    _debit(api, account, 3)
    clock.set_clock("2027-01-01T00:00:02Z")
    r = api.post(f"/credits/{credit['id']}/void")
    assert r.status_code == 200, r.text
    voided = r.json()
    assert voided["status"] == "VOIDED"
    assert voided["consumedAmount"] == 3
    assert voided["id"] == credit["id"]
    assert _txns(api, credit["id"]) == [("CREDITED", 10), ("DEBITED", 3), ("VOIDED", 7)]
    assert _figures(balance(api, account)) == ZERO_BALANCE
    assert [c["id"] for c in _list(api, status="VOIDED")] == [credit["id"]]

    clock.set_clock("2027-01-02T00:00:00Z")
    again = api.post(f"/credits/{credit['id']}/void")
    assert again.status_code == 200, again.text
    assert again.json() == voided
    assert _txns(api, credit["id"]) == [("CREDITED", 10), ("DEBITED", 3), ("VOIDED", 7)]


def test_void_of_consumed_credit_is_409(api: httpx.Client) -> None:
    account = new_account(api)
    credit = grant(api, account, 5)
    _debit(api, account, 5)
    assert "CONSUMED" in error_message(api.post(f"/credits/{credit['id']}/void"), 409)
    assert _details(api, credit["id"])["status"] == "CONSUMED"
    assert _txns(api, credit["id"]) == [("CREDITED", 5), ("DEBITED", 5)]


def test_void_of_expired_credit_is_409(clock: Server, api: httpx.Client) -> None:
    clock.set_clock("2027-01-10T00:00:00Z")
    account = new_account(api)
    credit = grant(api, account, 5, effectiveUntil="2027-01-31")
    clock.set_clock("2027-02-01T00:00:00Z")
    assert "EXPIRED" in error_message(api.post(f"/credits/{credit['id']}/void"), 409)
    details = _details(api, credit["id"])
    assert details["status"] == "EXPIRED"
    assert [t["transactionType"] for t in details["transactions"]] == ["CREDITED", "EXPIRED"]


def test_void_with_outstanding_hold_is_409_until_released(api: httpx.Client) -> None:
    account = new_account(api)
    credit = grant(api, account, 10)
    _hold(api, account, "inv-1", 4)
    message = error_message(api.post(f"/credits/{credit['id']}/void"), 409)
    assert "hold" in message
    assert _details(api, credit["id"])["status"] == "ACTIVE"
    assert api.post(f"/accounts/{account}/credit_holds/inv-1/release").status_code == 200
    r = api.post(f"/credits/{credit['id']}/void")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "VOIDED"
    assert _txns(api, credit["id"]) == [("CREDITED", 10), ("VOIDED", 10)]


def test_void_unknown_credit_is_404(api: httpx.Client) -> None:
    error_message(api.post("/credits/cred.00000000000.00000/void"), 404)
    error_message(api.get("/credits/cred.00000000000.00000"), 404)


def test_voided_credit_is_not_spent(api: httpx.Client) -> None:
    account = new_account(api)
    doomed = grant(api, account, 100, priority=0)
    grant(api, account, 10, priority=5)
    api.post(f"/credits/{doomed['id']}/void").raise_for_status()
    hold = _debit(api, account, 20)
    assert hold["coveredAmount"] == 10
    assert hold["uncoveredAmount"] == 10


# --- expiry -------------------------------------------------------------------------------


def test_expiry_is_visible_on_read_before_any_sweeper(clock: Server, api: httpx.Client) -> None:
    clock.set_clock("2027-01-10T12:00:00Z")
    account = new_account(api)
    credit = grant(api, account, 100, effectiveFrom="2027-01-01", effectiveUntil="2027-01-31")
    clock.set_clock("2027-01-11T12:00:00Z")
    _debit(api, account, 40)

    # Last second of the last effective day (dates are inclusive, UTC): still ACTIVE.
    clock.set_clock("2027-01-31T23:59:59Z")
    assert _details(api, credit["id"])["status"] == "ACTIVE"
    assert balance(api, account)["availableBalance"] == 60

    clock.set_clock("2027-02-01T00:00:00Z")
    details = _details(api, credit["id"])
    assert details["status"] == "EXPIRED"
    assert details["consumedAmount"] == 40
    assert [(t["transactionType"], t["amount"]) for t in details["transactions"]] == [
        ("CREDITED", 100),
        ("DEBITED", 40),
        ("EXPIRED", 60),
    ]
    assert details["transactions"][-1]["createdAt"] == "2027-02-01T00:00:00Z"
    b = balance(api, account)
    assert _figures(b) == ZERO_BALANCE
    # Reading again writes nothing more.
    clock.set_clock("2027-02-02T00:00:00Z")
    assert _details(api, credit["id"])["transactions"] == details["transactions"]
    # An expired credit pays for nothing.
    assert _debit(api, account, 1)["coveredAmount"] == 0


def test_expired_status_seen_by_list_filter_and_balance(clock: Server, api: httpx.Client) -> None:
    clock.set_clock("2027-03-01T00:00:00Z")
    account = new_account(api)
    short = grant(api, account, 10, effectiveUntil="2027-03-15")
    long = grant(api, account, 20, effectiveUntil="2027-12-31")
    forever = grant(api, account, 30)
    assert balance(api, account)["activeCredits"] == 60

    clock.set_clock("2027-03-16T00:00:00Z")
    # No GET of the credit happened: the balance and the filters must see it anyway.
    assert balance(api, account)["activeCredits"] == 50
    assert [c["id"] for c in _list(api, status="EXPIRED")] == [short["id"]]
    assert sorted(c["id"] for c in _list(api, status="ACTIVE")) == sorted(
        [long["id"], forever["id"]]
    )
    listed = {c["id"]: c["status"] for c in _list(api, account_id=account)}
    assert listed == {short["id"]: "EXPIRED", long["id"]: "ACTIVE", forever["id"]: "ACTIVE"}
    assert _txns(api, short["id"]) == [("CREDITED", 10), ("EXPIRED", 10)]


def test_fully_consumed_credit_does_not_expire(clock: Server, api: httpx.Client) -> None:
    clock.set_clock("2027-01-10T00:00:00Z")
    account = new_account(api)
    credit = grant(api, account, 10, effectiveUntil="2027-01-31")
    _debit(api, account, 10)
    clock.set_clock("2027-03-01T00:00:00Z")
    details = _details(api, credit["id"])
    assert details["status"] == "CONSUMED"
    assert [t["transactionType"] for t in details["transactions"]] == ["CREDITED", "DEBITED"]


# --- burn-down order ----------------------------------------------------------------------


def test_burn_down_order(clock: Server, api: httpx.Client) -> None:
    """priority, then earliest effectiveUntil (never last), then effectiveFrom, then creation."""
    clock.set_clock("2027-01-01T00:00:00Z")
    account = new_account(api)
    specs: list[tuple[str, dict[str, Any]]] = [
        ("p2", {"priority": 2}),
        ("from-jun-old", {"effectiveFrom": "2026-06-01"}),
        ("from-jun-new", {"effectiveFrom": "2026-06-01"}),
        ("from-jan", {"effectiveFrom": "2026-01-01"}),
        ("until-dec", {"effectiveFrom": "2026-06-01", "effectiveUntil": "2027-12-31"}),
        ("until-jun", {"effectiveFrom": "2026-06-01", "effectiveUntil": "2027-06-30"}),
        ("p0", {"priority": 0, "effectiveFrom": "2026-12-31"}),
    ]
    ids: dict[str, str] = {}
    for second, (name, fields) in enumerate(specs):
        # Distinct creation instants, granted in the reverse of the expected order mostly.
        clock.set_clock(f"2027-01-01T00:00:{second:02d}Z")
        fields = {"priority": 1, "effectiveFrom": "2026-01-01", **fields}
        ids[grant(api, account, 10, **fields)["id"]] = name
    clock.set_clock("2027-01-02T00:00:00Z")

    hold = _debit(api, account, 15)
    assert [(ids[c["creditId"]], c["amount"]) for c in hold["lines"][0]["credits"]] == [
        ("p0", 10),
        ("until-jun", 5),
    ]
    hold = _debit(api, account, 100)
    assert [(ids[c["creditId"]], c["amount"]) for c in hold["lines"][0]["credits"]] == [
        ("until-jun", 5),
        ("until-dec", 10),
        ("from-jan", 10),
        ("from-jun-old", 10),
        ("from-jun-new", 10),
        ("p2", 10),
    ]
    assert hold["coveredAmount"] == 55
    assert hold["uncoveredAmount"] == 45


def test_credits_of_one_request_burn_in_request_order(clock: Server, api: httpx.Client) -> None:
    """Credits granted in one request share `createdAt`; the last key of the burn-down order,
    the id, follows the request's order, so ties are spent in the order they were asked for
    (and listed in it)."""
    clock.set_clock("2027-01-01T00:00:00Z")
    account = new_account(api)
    # Identical terms: nothing but their place in the request tells them apart.
    requests = [credit_request(account, n + 1) for n in range(12)]
    answer = ok_json(api.post("/credits", json={"creditRequests": requests}))
    made = [c["id"] for c in answer["credits"]]
    assert [c["creditAmount"] for c in answer["credits"]] == list(range(1, 13))
    assert len({c["createdAt"] for c in answer["credits"]}) == 1
    assert made == sorted(made)
    hold = _debit(api, account, 78)  # 1 + 2 + ... + 12
    taken = hold["lines"][0]["credits"]
    assert [(c["creditId"], c["amount"]) for c in taken] == list(
        zip(made, range(1, 13), strict=True)
    )
    assert [c["id"] for c in _list(api, account_id=account)] == made


def test_not_yet_effective_credit_is_not_spent(clock: Server, api: httpx.Client) -> None:
    clock.set_clock("2027-05-10T00:00:00Z")
    account = new_account(api)
    later = grant(api, account, 50, priority=0, effectiveFrom="2027-05-11")
    now = grant(api, account, 5, priority=9, effectiveFrom="2027-05-10")
    hold = _debit(api, account, 8)
    assert [c["creditId"] for c in hold["lines"][0]["credits"]] == [now["id"]]
    assert hold["coveredAmount"] == 5
    clock.set_clock("2027-05-11T00:00:00Z")
    hold = _debit(api, account, 8)
    assert [c["creditId"] for c in hold["lines"][0]["credits"]] == [later["id"]]


# --- applicability ------------------------------------------------------------------------


def test_applicability_by_entity_id_and_rate_card_type(api: httpx.Client) -> None:
    account = new_account(api)
    only_a = grant(api, account, 10, priority=0, applicableEntityIds=["meter-a"])
    usage = grant(api, account, 10, priority=1, applicableEntityIds=["ALL_USAGE_METER_RATE_CARDS"])
    fixed = grant(api, account, 10, priority=2, applicableEntityIds=["ALL_FIXED_FEE_RATE_CARDS"])
    anything = grant(api, account, 10, priority=3)
    empty_list = grant(api, account, 10, priority=4, applicableEntityIds=[])
    names = {
        only_a["id"]: "only_a",
        usage["id"]: "usage",
        fixed["id"]: "fixed",
        anything["id"]: "anything",
        empty_list["id"]: "empty_list",
    }
    assert empty_list.get("applicableEntityIds") in (None, [])

    r = api.post(
        f"/accounts/{account}/credit_debits",
        json={
            "invoiceId": "inv-1",
            "lines": [
                {"entityId": "fee-1", "entityType": "FIXED_FEE_RATE_CARD", "amount": 3},
                {"entityId": "meter-a", "amount": 12},
                {"entityId": "meter-x", "entityType": "USAGE_METER_RATE_CARD", "amount": 4},
                {"entityId": "meter-a", "entityType": "FIXED_FEE_RATE_CARD", "amount": 1},
            ],
        },
    )
    assert r.status_code == 200, r.text
    lines = r.json()["lines"]
    drawn = [[(names[c["creditId"]], c["amount"]) for c in line["credits"]] for line in lines]
    assert drawn == [
        [("fixed", 3)],  # not meter-a's, not a usage meter
        [("only_a", 10), ("anything", 2)],  # no entityType: wildcards do not apply
        [("usage", 4)],
        [("fixed", 1)],  # only_a is spent; fixed-fee wildcard matches the type
    ]
    assert [line["coveredAmount"] for line in lines] == [3, 12, 4, 1]


def test_restricted_credits_leave_other_entities_uncovered(api: httpx.Client) -> None:
    account = new_account(api)
    grant(api, account, 100, applicableEntityIds=["meter-a", "ALL_FIXED_FEE_RATE_CARDS"])
    hold = _debit(api, account, 5, entity_id="meter-b", entity_type="USAGE_METER_RATE_CARD")
    assert hold["coveredAmount"] == 0
    assert hold["lines"][0]["credits"] == []
    assert balance(api, account)["availableBalance"] == 100


# --- balance ------------------------------------------------------------------------------


def test_balance_figures_match_togai_example(clock: Server, api: httpx.Client) -> None:
    """1000 granted, 200 consumed, 100 held, a further 100 starting later → 1000/800/700/100."""
    clock.set_clock("2027-03-10T08:00:00Z")
    account = new_account(api, currency="EUR")
    assert balance(api, account) == {
        **ZERO_BALANCE,
        "unit": "EUR",
        "lastUpdatedAt": "2027-03-10T08:00:00Z",
    }

    grant(api, account, 1000, effectiveFrom="2027-03-01", effectiveUntil="2027-12-31")
    grant(api, account, 100, effectiveFrom="2027-04-01", priority=0)
    clock.set_clock("2027-03-10T09:00:00Z")
    _debit(api, account, 200)
    clock.set_clock("2027-03-10T10:00:00Z")
    _hold(api, account, "inv-held", 100)
    # Credits that count for nothing: voided, expired, consumed.
    clock.set_clock("2027-03-10T11:00:00Z")
    voided = grant(api, account, 7, priority=9)
    api.post(f"/credits/{voided['id']}/void").raise_for_status()
    grant(api, account, 9, effectiveFrom="2027-01-01", effectiveUntil="2027-03-09")

    b = balance(api, account)
    assert b == {
        "activeCredits": 1000,
        "availableBalance": 800,
        "runningBalance": 700,
        "inapplicableCredits": 100,
        "unit": "EUR",
        "lastUpdatedAt": "2027-03-10T11:00:00Z",
    }

    # The later credit becomes effective on its first day, and is spent first (priority 0).
    clock.set_clock("2027-04-01T00:00:00Z")
    b = balance(api, account)
    assert _figures(b) == {
        "activeCredits": 1100,
        "availableBalance": 900,
        "runningBalance": 800,
        "inapplicableCredits": 0,
    }


def test_balance_of_unknown_account_is_404(api: httpx.Client) -> None:
    error_message(api.get("/accounts/nobody/credit_balance"), 404)


def test_balance_as_of_past_instants(clock: Server, api: httpx.Client) -> None:
    clock.set_clock("2027-02-01T10:00:00Z")
    account = new_account(api)
    grant(api, account, 100, effectiveFrom="2027-01-01")
    clock.set_clock("2027-02-05T10:00:00Z")
    _debit(api, account, 30)
    clock.set_clock("2027-02-07T10:00:00Z")
    _hold(api, account, "inv-h", 20)
    clock.set_clock("2027-02-09T10:00:00Z")
    api.post(f"/accounts/{account}/credit_holds/inv-h/release").raise_for_status()
    clock.set_clock("2027-02-10T10:00:00Z")

    def at(instant: str) -> dict[str, Any]:
        return balance(api, account, asOf=instant)

    assert _figures(at("2027-02-01T09:59:59Z")) == ZERO_BALANCE
    b = at("2027-02-03T00:00:00Z")
    assert _figures(b) == {
        "activeCredits": 100,
        "availableBalance": 100,
        "runningBalance": 100,
        "inapplicableCredits": 0,
    }
    assert b["lastUpdatedAt"] == "2027-02-01T10:00:00Z"
    b = at("2027-02-06T00:00:00Z")
    assert (b["availableBalance"], b["runningBalance"]) == (70, 70)
    assert b["lastUpdatedAt"] == "2027-02-05T10:00:00Z"
    b = at("2027-02-08T00:00:00Z")
    assert (b["availableBalance"], b["runningBalance"]) == (70, 50)
    # The exact instant of a change includes it; datetimes without an offset are UTC.
    b = at("2027-02-07T10:00:00")
    assert (b["availableBalance"], b["runningBalance"]) == (70, 50)
    b = at("2027-02-07T11:00:00+01:00")  # = 10:00Z
    assert (b["availableBalance"], b["runningBalance"]) == (70, 50)
    assert _figures(at("2027-02-09T10:00:00Z")) == _figures(balance(api, account))
    assert balance(api, account)["runningBalance"] == 70

    error_message(
        api.get(f"/accounts/{account}/credit_balance", params={"asOf": "2027-02-11T00:00:00Z"}), 400
    )
    error_message(api.get(f"/accounts/{account}/credit_balance", params={"asOf": "yesterday"}), 400)


def test_as_of_a_bare_date_is_midnight_utc(clock: Server, api: httpx.Client) -> None:
    """`asOf=2027-03-05` is 2027-03-05T00:00:00Z (the console reads it the same way)."""
    clock.set_clock("2027-03-05T10:00:00Z")
    account = new_account(api)
    grant(api, account, 100, effectiveFrom="2027-03-01")
    clock.set_clock("2027-03-07T10:00:00Z")
    assert _figures(balance(api, account, asOf="2027-03-05")) == ZERO_BALANCE
    assert balance(api, account, asOf="2027-03-05") == balance(
        api, account, asOf="2027-03-05T00:00:00Z"
    )
    assert balance(api, account, asOf="2027-03-06")["availableBalance"] == 100
    error_message(
        api.get(f"/accounts/{account}/credit_balance", params={"asOf": "2027-03-08"}), 400
    )


def test_balance_as_of_sees_expiry_and_void_history(clock: Server, api: httpx.Client) -> None:
    clock.set_clock("2027-06-01T00:00:00Z")
    account = new_account(api)
    expiring = grant(api, account, 10, effectiveUntil="2027-06-10")
    doomed = grant(api, account, 20)
    clock.set_clock("2027-06-05T00:00:00Z")
    api.post(f"/credits/{doomed['id']}/void").raise_for_status()
    clock.set_clock("2027-06-20T00:00:00Z")
    _details(api, expiring["id"])  # materializes the EXPIRED transaction now

    assert balance(api, account, asOf="2027-06-04T00:00:00Z")["activeCredits"] == 30
    assert balance(api, account, asOf="2027-06-06T00:00:00Z")["activeCredits"] == 10
    assert balance(api, account, asOf="2027-06-10T23:59:59Z")["activeCredits"] == 10
    # Expired by date on the 11th, although its transaction was written on the 20th.
    assert balance(api, account, asOf="2027-06-11T00:00:00Z")["activeCredits"] == 0
    assert balance(api, account, asOf="2027-06-11T00:00:00Z")["inapplicableCredits"] == 0


# --- exact decimals -----------------------------------------------------------------------


def test_amounts_are_exact_in_the_raw_json(api: httpx.Client) -> None:
    account = new_account(api)
    grant(api, account, 0.1, priority=0)
    grant(api, account, 0.2, priority=1)
    raw = api.get(f"/accounts/{account}/credit_balance").text
    assert '"activeCredits":0.3' in raw
    assert "0.30000000000000004" not in raw

    r = api.post(
        f"/accounts/{account}/credit_debits",
        json={"invoiceId": "inv-1", "lines": [{"entityId": "x", "amount": 0.3}]},
    )
    assert r.status_code == 200, r.text
    assert '"requestedAmount":0.3' in r.text
    assert '"coveredAmount":0.3' in r.text
    assert '"uncoveredAmount":0' in r.text
    assert "0000000" not in r.text

    big = "123456789012345678.0123456789"
    r = api.post(
        "/credits",
        content=_raw_grant_body(account, big),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 200, r.text
    assert f'"creditAmount":{big}' in r.text
    credit_id = r.json()["credits"][0]["id"]
    assert f'"creditAmount":{big}' in api.get(f"/credits/{credit_id}").text
    assert f'"amount":{big}' in api.get(f"/credits/{credit_id}").text

    # Exponents and trailing zeros come back in canonical form.
    for sent, shown in [("1E+3", "1000"), ("2.50000", "2.5"), ("0.0000000001", "0.0000000001")]:
        r = api.post(
            "/credits",
            content=_raw_grant_body(account, sent),
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 200, r.text
        assert f'"creditAmount":{shown},' in r.text, (sent, r.text)
        listed = api.get("/credits", params={"id": r.json()["credits"][0]["id"]}).text
        assert f'"creditAmount":{shown},' in listed


def test_many_small_debits_add_up_exactly(api: httpx.Client) -> None:
    account = new_account(api)
    credit = grant(api, account, 1)
    for _ in range(10):
        _debit(api, account, 0.1)
    details = api.get(f"/credits/{credit['id']}")
    assert '"consumedAmount":1,' in details.text
    assert details.json()["status"] == "CONSUMED"
    assert '"availableBalance":0,' in api.get(f"/accounts/{account}/credit_balance").text


# --- list ---------------------------------------------------------------------------------


def test_list_filters(api: httpx.Client) -> None:
    a, b = new_account(api), new_account(api)
    a1 = grant(api, a, 10)
    a2 = grant(api, a, 20)
    b1 = grant(api, b, 30)
    api.post(f"/credits/{a2['id']}/void").raise_for_status()

    assert sorted(c["id"] for c in _list(api)) == sorted([a1["id"], a2["id"], b1["id"]])
    assert sorted(c["id"] for c in _list(api, account_id=a)) == sorted([a1["id"], a2["id"]])
    assert [c["id"] for c in _list(api, account_id=b)] == [b1["id"]]
    assert [c["id"] for c in _list(api, status="VOIDED")] == [a2["id"]]
    assert [c["id"] for c in _list(api, status="ACTIVE", account_id=a)] == [a1["id"]]
    assert [c["id"] for c in _list(api, id=b1["id"])] == [b1["id"]]
    assert _list(api, id=b1["id"], account_id=a) == []
    assert _list(api, account_id="nobody") == []
    assert _list(api, status="CONSUMED") == []
    listed = api.get("/credits", params={"id": a1["id"]}).json()
    assert listed == {"data": [{**a1}]}
    assert "status" in error_message(api.get("/credits", params={"status": "PROCESSED"}), 400)


def test_list_pagination_walks_every_page_once(api: httpx.Client) -> None:
    account = new_account(api)
    other = new_account(api)
    batch = [credit_request(account, i + 1) for i in range(51)] + [credit_request(other, 1)]
    r = api.post("/credits", json={"creditRequests": batch})
    assert r.status_code == 200, r.text
    ids = [c["id"] for c in r.json()["credits"][:51]]
    assert len(set(ids)) == 51

    first = api.get("/credits", params={"account_id": account}).json()
    assert len(first["data"]) == 50  # default and maximum page size
    assert first["nextToken"] and len(first["nextToken"]) <= 500
    second = api.get(
        "/credits", params={"account_id": account, "nextToken": first["nextToken"]}
    ).json()
    assert len(second["data"]) == 1
    assert "nextToken" not in second
    assert {c["id"] for c in first["data"] + second["data"]} == set(ids)

    full = api.get("/credits", params={"account_id": account, "pageSize": 50}).json()
    assert len(full["data"]) == 50

    walked = [c["id"] for c in _list(api, account_id=account, pageSize=7)]
    assert len(walked) == 51 and set(walked) == set(ids)
    assert len(_list(api, pageSize=13)) == 52


def test_list_page_tokens_are_bound_to_the_query(server: Server, api: httpx.Client) -> None:
    account = new_account(api)
    for amount in (1, 2, 3):
        grant(api, account, amount)
    token = api.get("/credits", params={"account_id": account, "pageSize": 1}).json()["nextToken"]
    assert token
    ok = api.get("/credits", params={"account_id": account, "pageSize": 1, "nextToken": token})
    assert ok.status_code == 200, ok.text
    # The same token with another filter, or no filter, is refused.
    error_message(api.get("/credits", params={"nextToken": token}), 400)
    error_message(
        api.get("/credits", params={"status": "ACTIVE", "account_id": account, "nextToken": token}),
        400,
    )
    # Another organization cannot use it.
    with server.client() as other:
        error_message(
            other.get("/credits", params={"account_id": account, "nextToken": token}), 400
        )
    # Forged tokens.
    body, _, signature = token.partition(".")
    for forged in (
        "x" + token[1:],
        body + "." + ("A" if signature[0] != "A" else "B") + signature[1:],
        token + "x",
        "not-a-token",
        "a" * 501,
    ):
        error_message(api.get("/credits", params={"account_id": account, "nextToken": forged}), 400)
    for size in ("51", "0", "x", "-3", "1.5", "100"):
        error_message(api.get("/credits", params={"pageSize": size}), 400)


def test_transactions_are_listed_oldest_first(clock: Server, api: httpx.Client) -> None:
    clock.set_clock("2027-01-01T00:00:00Z")
    account = new_account(api)
    credit = grant(api, account, 10)
    steps = [
        ("2027-01-02T00:00:00Z", lambda: _debit(api, account, 1, invoice_id="inv-a")),
        ("2027-01-03T00:00:00Z", lambda: _hold(api, account, "inv-b", 2)),
        (
            "2027-01-04T00:00:00Z",
            lambda: api.post(f"/accounts/{account}/credit_holds/inv-b/capture").raise_for_status(),
        ),
        ("2027-01-05T00:00:00Z", lambda: _debit(api, account, 3, invoice_id="inv-c")),
        (
            "2027-01-06T00:00:00Z",
            lambda: api.post(f"/credits/{credit['id']}/void").raise_for_status(),
        ),
    ]
    for instant, step in steps:
        clock.set_clock(instant)
        step()
    txns = _details(api, credit["id"])["transactions"]
    assert [(t["transactionType"], t["amount"], t.get("invoiceId")) for t in txns] == [
        ("CREDITED", 10, None),
        ("DEBITED", 1, "inv-a"),
        ("DEBITED", 2, "inv-b"),
        ("DEBITED", 3, "inv-c"),
        ("VOIDED", 4, None),
    ]
    assert [t["createdAt"][:10] for t in txns] == [
        "2027-01-01",
        "2027-01-02",
        "2027-01-04",
        "2027-01-05",
        "2027-01-06",
    ]
    assert all(t["entityId"] == "api-calls" for t in txns if t["transactionType"] == "DEBITED")
    assert all(t["creditId"] == credit["id"] for t in txns)
    assert len({t["id"] for t in txns}) == 5


# --- tenancy ------------------------------------------------------------------------------


def test_other_tenants_credits_are_invisible(server: Server, api: httpx.Client) -> None:
    account = new_account(api)
    credit = grant(api, account, 10)
    with server.client() as other:
        for r in (
            other.get(f"/credits/{credit['id']}"),
            other.post(f"/credits/{credit['id']}/void"),
            other.get(f"/accounts/{account}/credit_balance"),
        ):
            error_message(r, 404)
            assert credit["id"] not in r.text or "not found" in r.text
        assert other.get("/credits", params={"id": credit["id"]}).json() == {"data": []}
        assert other.get("/credits", params={"account_id": account}).json() == {"data": []}
        batch = [credit_request(account, 5)]
        error_message(other.post("/credits", json={"creditRequests": batch}), 404)
    assert _details(api, credit["id"])["status"] == "ACTIVE"
    assert len(_list(api)) == 1
