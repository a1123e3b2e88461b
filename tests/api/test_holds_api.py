"""Two-phase consumption over HTTP: holds, captures, releases, one-step debits, invoice reuse.

What test_credits_api.py already proves (burn-down order, applicability, exact decimals, the
`void` refusal while a hold is open) is not repeated here.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.helpers import balance, grant, new_account, ok_json
from tests.servers import Server, iter_pages


def _fail(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    message: str = r.json()["message"]
    return message


def _place(
    api: httpx.Client,
    account: str,
    invoice: str,
    lines: list[tuple[str, Any]],
    kind: str = "credit_holds",
    **extra: Any,
) -> httpx.Response:
    body = {
        "invoiceId": invoice,
        "lines": [{"entityId": e, "amount": a} for e, a in lines],
        **extra,
    }
    return api.post(f"/accounts/{account}/{kind}", json=body)


def _settle(api: httpx.Client, account: str, invoice: str, verb: str) -> httpx.Response:
    return api.post(f"/accounts/{account}/credit_holds/{invoice}/{verb}")


def _credit(api: httpx.Client, credit_id: str) -> dict[str, Any]:
    return ok_json(api.get(f"/credits/{credit_id}"))


def _txns(api: httpx.Client, credit_id: str) -> list[tuple[Any, ...]]:
    return [
        (t["transactionType"], t["amount"], t.get("invoiceId"), t.get("entityId"))
        for t in _credit(api, credit_id)["transactions"]
    ]


def _figures(api: httpx.Client, account: str, **params: Any) -> tuple[Any, Any]:
    b = balance(api, account, **params)
    return b["availableBalance"], b["runningBalance"]


def _per_line(hold: dict[str, Any], names: dict[str, str]) -> list[Any]:
    return [
        (
            line["entityId"],
            line["amount"],
            line["coveredAmount"],
            [(names[c["creditId"]], c["amount"]) for c in line["credits"]],
        )
        for line in hold["lines"]
    ]


def test_partial_cover_is_reported_per_line_and_per_credit(
    clock: Server, api: httpx.Client
) -> None:
    clock.set_clock("2027-04-01T09:00:00Z")
    account = new_account(api, currency="EUR")
    a = grant(api, account, 30, priority=0)["id"]
    b = grant(api, account, 20, priority=1)["id"]
    storage_only = grant(api, account, 100, priority=5, applicableEntityIds=["storage"])["id"]
    names = {a: "a", b: "b", storage_only: "storage_only"}

    hold = ok_json(
        _place(api, account, "inv-1", [("api-calls", 40), ("storage", 10), ("api-calls", 25)])
    )
    assert hold["id"].startswith("hold.")
    assert (hold["accountId"], hold["invoiceId"]) == (account, "inv-1")
    assert (hold["type"], hold["status"], hold["unit"]) == ("HOLD", "HELD", "EUR")
    assert hold["createdAt"] == "2027-04-01T09:00:00Z"
    assert "settledAt" not in hold
    assert _per_line(hold, names) == [
        ("api-calls", 40, 40, [("a", 30), ("b", 10)]),
        ("storage", 10, 10, [("b", 10)]),  # b comes before storage_only in burn-down order
        ("api-calls", 25, 0, []),  # nothing left that applies to api-calls
    ]
    assert (hold["requestedAmount"], hold["coveredAmount"], hold["uncoveredAmount"]) == (75, 50, 25)

    # Per credit, as the credits themselves report it; nothing is spent yet.
    held = {names[c]: _credit(api, c) for c in names}
    assert {n: (c["holdAmount"], c["consumedAmount"], c["status"]) for n, c in held.items()} == {
        "a": (30, 0, "ACTIVE"),
        "b": (20, 0, "ACTIVE"),
        "storage_only": (0, 0, "ACTIVE"),
    }
    assert all(len(c["transactions"]) == 1 for c in held.values())
    assert _figures(api, account) == (150, 100)


def test_capture_writes_debited_transactions_with_invoice_and_entity(
    clock: Server, api: httpx.Client
) -> None:
    clock.set_clock("2027-04-02T09:00:00Z")
    account = new_account(api)
    a = grant(api, account, 30, priority=0)["id"]
    b = grant(api, account, 50, priority=1)["id"]
    ok_json(_place(api, account, "inv-7", [("api-calls", 40), ("storage", 15)]))
    clock.set_clock("2027-04-03T10:00:00Z")

    captured = ok_json(_settle(api, account, "inv-7", "capture"))
    assert (captured["status"], captured["settledAt"]) == ("CAPTURED", "2027-04-03T10:00:00Z")
    assert captured["createdAt"] == "2027-04-02T09:00:00Z"
    assert _txns(api, a) == [("CREDITED", 30, None, None), ("DEBITED", 30, "inv-7", "api-calls")]
    b_txns = _txns(api, b)
    assert b_txns[0] == ("CREDITED", 50, None, None)
    # Both debits are written at one instant by one capture: their relative order is free.
    assert sorted(b_txns[1:]) == [
        ("DEBITED", 10, "inv-7", "api-calls"),
        ("DEBITED", 15, "inv-7", "storage"),
    ]
    debit_times = {t["createdAt"] for t in _credit(api, b)["transactions"][1:]}
    assert debit_times == {"2027-04-03T10:00:00Z"}
    assert (_credit(api, a)["status"], _credit(api, a)["holdAmount"]) == ("CONSUMED", 0)
    credit_b = _credit(api, b)
    assert (credit_b["consumedAmount"], credit_b["holdAmount"]) == (25, 0)
    assert _figures(api, account) == (25, 25)

    # Capturing again answers the same and writes nothing; releasing now is refused.
    clock.set_clock("2027-04-04T10:00:00Z")
    assert ok_json(_settle(api, account, "inv-7", "capture")) == captured
    message = _fail(_settle(api, account, "inv-7", "release"), 409)
    assert "inv-7" in message and "CAPTURED" in message
    assert len(_credit(api, b)["transactions"]) == 3
    assert _figures(api, account) == (25, 25)


def test_release_returns_the_money_and_cannot_be_captured_after(
    clock: Server, api: httpx.Client
) -> None:
    clock.set_clock("2027-04-05T09:00:00Z")
    account = new_account(api)
    credit = grant(api, account, 100)["id"]
    ok_json(_place(api, account, "inv-r", [("api-calls", 40)]))
    assert _figures(api, account) == (100, 60)
    clock.set_clock("2027-04-05T09:30:00Z")

    released = ok_json(_settle(api, account, "inv-r", "release"))
    assert (released["status"], released["settledAt"]) == ("RELEASED", "2027-04-05T09:30:00Z")
    # The answer still says what had been reserved, so the caller can reconcile.
    assert released["coveredAmount"] == 40
    assert _figures(api, account) == (100, 100)
    details = _credit(api, credit)
    assert (details["holdAmount"], details["consumedAmount"], details["status"]) == (0, 0, "ACTIVE")
    assert _txns(api, credit) == [("CREDITED", 100, None, None)]  # a release moves no money

    # A billing system must not charge an invoice whose reservation it gave back.
    message = _fail(_settle(api, account, "inv-r", "capture"), 409)
    assert "inv-r" in message and "RELEASED" in message
    assert ok_json(_settle(api, account, "inv-r", "release")) == released
    assert _txns(api, credit) == [("CREDITED", 100, None, None)]
    # The money is spendable again, in full, by another invoice.
    again = ok_json(_place(api, account, "inv-r2", [("api-calls", 100)], kind="credit_debits"))
    assert again["coveredAmount"] == 100
    assert _credit(api, credit)["status"] == "CONSUMED"


def test_one_step_debit(clock: Server, api: httpx.Client) -> None:
    clock.set_clock("2027-04-06T09:00:00Z")
    account = new_account(api)
    a = grant(api, account, 10, priority=0)["id"]
    b = grant(api, account, 100, priority=1)["id"]
    debit = ok_json(_place(api, account, "inv-d", [("api-calls", 30)], kind="credit_debits"))
    assert (debit["type"], debit["status"]) == ("DEBIT", "CAPTURED")
    assert debit["settledAt"] == debit["createdAt"] == "2027-04-06T09:00:00Z"
    assert debit["lines"][0]["credits"] == [
        {"creditId": a, "amount": 10},
        {"creditId": b, "amount": 20},
    ]
    assert _txns(api, a)[1:] == [("DEBITED", 10, "inv-d", "api-calls")]
    assert _txns(api, b)[1:] == [("DEBITED", 20, "inv-d", "api-calls")]
    assert _credit(api, b)["holdAmount"] == 0
    assert _figures(api, account) == (80, 80)
    # A debit is already captured: capture answers it unchanged, release is refused.
    assert ok_json(_settle(api, account, "inv-d", "capture")) == debit
    assert "CAPTURED" in _fail(_settle(api, account, "inv-d", "release"), 409)
    # Beyond the credits: the uncovered part is reported, nothing overdraws.
    over = ok_json(_place(api, account, "inv-e", [("api-calls", 95)], kind="credit_debits"))
    assert (over["coveredAmount"], over["uncoveredAmount"]) == (80, 15)
    assert _figures(api, account) == (0, 0)
    assert _credit(api, b)["status"] == "CONSUMED"


def test_get_one_hold_and_list_them(clock: Server, api: httpx.Client) -> None:
    account = new_account(api)
    other_account = new_account(api)
    grant(api, account, 1000)
    created = []
    for n in range(5):
        clock.set_clock(f"2027-04-07T09:00:0{n}Z")
        kind = "credit_debits" if n == 1 else "credit_holds"
        created.append(ok_json(_place(api, account, f"inv-{n}", [("api-calls", n + 1)], kind=kind)))
    clock.set_clock("2027-04-07T10:00:00Z")
    released = ok_json(_settle(api, account, "inv-2", "release"))
    captured = ok_json(_settle(api, account, "inv-3", "capture"))

    assert ok_json(api.get(f"/accounts/{account}/credit_holds/inv-0")) == created[0]
    assert ok_json(api.get(f"/accounts/{account}/credit_holds/inv-1")) == created[1]
    assert ok_json(api.get(f"/accounts/{account}/credit_holds/inv-2")) == released
    assert ok_json(api.get(f"/accounts/{account}/credit_holds/inv-3")) == captured
    # Holds belong to their account: the same invoice on another account is not there.
    _fail(api.get(f"/accounts/{other_account}/credit_holds/inv-0"), 404)

    first = ok_json(api.get(f"/accounts/{account}/credit_holds", params={"pageSize": 2}))
    assert [h["invoiceId"] for h in first["data"]] == ["inv-0", "inv-1"]
    assert first["nextToken"]
    listed = list(iter_pages(api, f"/accounts/{account}/credit_holds", pageSize=2))
    assert [h["invoiceId"] for h in listed] == [f"inv-{n}" for n in range(5)]  # oldest first
    assert [h["status"] for h in listed] == ["HELD", "CAPTURED", "RELEASED", "CAPTURED", "HELD"]
    assert listed[2] == released and listed[3] == captured
    assert ok_json(api.get(f"/accounts/{other_account}/credit_holds")) == {"data": []}
    # A page token is bound to its account.
    r = api.get(f"/accounts/{other_account}/credit_holds", params={"nextToken": first["nextToken"]})
    assert "nextToken" in _fail(r, 400)


def test_invoice_id_is_used_once_per_account(clock: Server, api: httpx.Client) -> None:
    clock.set_clock("2027-04-08T09:00:00Z")
    account = new_account(api)
    neighbour = new_account(api)
    credit = grant(api, account, 100)["id"]
    grant(api, neighbour, 100)
    lines = [("api-calls", 10), ("storage", 2.5)]
    first = ok_json(_place(api, account, "inv-1", lines))

    # The same body again (a retry) gets the first answer and reserves nothing more,
    # also when the numbers are spelled differently.
    clock.set_clock("2027-04-08T09:05:00Z")
    assert ok_json(_place(api, account, "inv-1", lines)) == first
    raw = (
        '{"invoiceId":"inv-1","lines":[{"entityId":"api-calls","amount":1.0E+1},'
        '{"entityId":"storage","amount":2.50}]}'
    )
    r = api.post(
        f"/accounts/{account}/credit_holds",
        content=raw,
        headers={"content-type": "application/json"},
    )
    assert ok_json(r) == first
    assert _figures(api, account) == (100, 87.5)

    # A different body under the same invoice is a conflict and changes nothing.
    for other_lines, kind, extra in [
        ([("api-calls", 11), ("storage", 2.5)], "credit_holds", {}),
        ([("api-calls", 10)], "credit_holds", {}),
        ([("storage", 2.5), ("api-calls", 10)], "credit_holds", {}),
        ([("api-calls", 10), ("storage-x", 2.5)], "credit_holds", {}),
        (lines, "credit_holds", {"allowPartial": False}),
        (lines, "credit_debits", {}),
    ]:
        message = _fail(_place(api, account, "inv-1", other_lines, kind=kind, **extra), 409)
        assert "inv-1" in message
    assert _figures(api, account) == (100, 87.5)
    assert _credit(api, credit)["holdAmount"] == 12.5

    # Another account may use the same invoice id.
    assert ok_json(_place(api, neighbour, "inv-1", lines))["id"] != first["id"]

    # After the capture, a retry of the original request still answers without a second charge.
    captured = ok_json(_settle(api, account, "inv-1", "capture"))
    assert ok_json(_place(api, account, "inv-1", lines)) == captured
    assert _figures(api, account) == (87.5, 87.5)
    assert [t[0] for t in _txns(api, credit)] == ["CREDITED", "DEBITED", "DEBITED"]

    # A one-step debit replays the same way: one charge, the first answer.
    debit = ok_json(_place(api, account, "inv-2", [("api-calls", 7)], kind="credit_debits"))
    assert ok_json(_place(api, account, "inv-2", [("api-calls", 7)], kind="credit_debits")) == debit
    assert _figures(api, account) == (80.5, 80.5)
    assert "inv-2" in _fail(_place(api, account, "inv-2", [("api-calls", 7)]), 409)

    # A refused all-or-nothing request does not use up its invoice id.
    assert "allowPartial" in _fail(
        _place(api, account, "inv-3", [("api-calls", 1000)], allowPartial=False), 409
    )
    assert (
        ok_json(_place(api, account, "inv-3", [("api-calls", 80.5)], allowPartial=False))[
            "coveredAmount"
        ]
        == 80.5
    )
    assert _figures(api, account) == (80.5, 0)


def test_held_money_remains_capturable_after_expiry(clock: Server, api: httpx.Client) -> None:
    clock.set_clock("2027-01-10T00:00:00Z")
    account = new_account(api)
    credit = grant(api, account, 100, effectiveUntil="2027-01-31")["id"]
    ok_json(_place(api, account, "inv-a", [("api-calls", 40)]))
    ok_json(_place(api, account, "inv-b", [("api-calls", 10)]))
    assert _figures(api, account) == (100, 50)

    clock.set_clock("2027-02-01T00:00:00Z")
    details = _credit(api, credit)
    assert (details["status"], details["holdAmount"]) == ("EXPIRED", 50)
    # Only the unreserved half expired; the reserved half still belongs to its invoices.
    assert _txns(api, credit) == [("CREDITED", 100, None, None), ("EXPIRED", 50, None, None)]
    assert _figures(api, account) == (0, 0)
    # No new reservation can use the expired credit.
    late = ok_json(_place(api, account, "inv-late", [("api-calls", 1)]))
    assert late["coveredAmount"] == 0

    clock.set_clock("2027-02-02T00:00:00Z")
    captured = ok_json(_settle(api, account, "inv-a", "capture"))
    assert captured["coveredAmount"] == 40
    clock.set_clock("2027-02-03T00:00:00Z")
    released = ok_json(_settle(api, account, "inv-b", "release"))
    assert released["status"] == "RELEASED"
    details = _credit(api, credit)
    assert (details["status"], details["holdAmount"], details["consumedAmount"]) == (
        "EXPIRED",
        0,
        40,
    )
    # Released money of an expired credit leaves as expired, not back into the balance.
    assert _txns(api, credit) == [
        ("CREDITED", 100, None, None),
        ("EXPIRED", 50, None, None),
        ("DEBITED", 40, "inv-a", "api-calls"),
        ("EXPIRED", 10, "inv-b", "api-calls"),  # the invoice whose reservation lapsed
    ]
    assert _figures(api, account) == (0, 0)
    # The past still reads as it was: both holds open on the 20th of January.
    assert _figures(api, account, asOf="2027-01-20T00:00:00Z") == (100, 50)


def test_void_waits_for_the_holds_of_that_credit_only(api: httpx.Client) -> None:
    account = new_account(api)
    held = grant(api, account, 100, priority=0)["id"]
    free = grant(api, account, 100, priority=1)["id"]
    ok_json(_place(api, account, "inv-1", [("api-calls", 40)]))
    ok_json(_place(api, account, "inv-2", [("api-calls", 5)], kind="credit_debits"))

    # The hold is on the first credit only; the second may be voided at once.
    assert ok_json(api.post(f"/credits/{free}/void"))["status"] == "VOIDED"
    message = _fail(api.post(f"/credits/{held}/void"), 409)
    assert held in message and "hold" in message
    assert _credit(api, held)["status"] == "ACTIVE"

    # Once captured, the void cancels only what is neither consumed nor reserved.
    ok_json(_settle(api, account, "inv-1", "capture"))
    voided = ok_json(api.post(f"/credits/{held}/void"))
    assert (voided["status"], voided["consumedAmount"], voided["holdAmount"]) == ("VOIDED", 45, 0)
    assert [t[:2] for t in _txns(api, held)] == [
        ("CREDITED", 100),
        ("DEBITED", 5),  # the one-step debit came before the capture
        ("DEBITED", 40),
        ("VOIDED", 55),
    ]
    assert _figures(api, account) == (0, 0)


def test_a_time_limit_gives_the_money_back_by_itself(clock: Server, api: httpx.Client) -> None:
    clock.set_clock("2027-04-01T09:00:00Z")
    account = new_account(api)
    credit = grant(api, account, 100)["id"]
    hold = ok_json(_place(api, account, "inv-t", [("api", 30)], expiresIn="PT1M"))
    assert (hold["status"], hold["expiresAt"]) == ("HELD", "2027-04-01T09:01:00Z")
    replay = ok_json(_place(api, account, "inv-t", [("api", 30)], expiresIn="PT1M"))
    assert replay == hold
    assert "different" in _fail(_place(api, account, "inv-t", [("api", 30)]), 409)
    assert _figures(api, account) == (100, 70)
    clock.set_clock("2027-04-01T09:01:00Z")
    gone = ok_json(api.get(f"/accounts/{account}/credit_holds/inv-t"))
    assert (gone["status"], gone["settledAt"]) == ("EXPIRED", "2027-04-01T09:01:00Z")
    assert _figures(api, account) == (100, 100)  # at once, before anything was written
    assert _figures(api, account, asOf="2027-04-01T09:00:30Z") == (100, 70)
    assert "expiresIn passed" in _fail(_settle(api, account, "inv-t", "capture"), 409)
    assert "expiresIn passed" in _fail(_settle(api, account, "inv-t", "release"), 409)
    # The account's next hold writes the expiry: the credit's held money is back.
    ok_json(_place(api, account, "inv-u", [("api", 100)]))
    assert _credit(api, credit)["holdAmount"] == 100
    assert _txns(api, credit) == [("CREDITED", 100, None, None)]
    listed = {
        h["invoiceId"]: h["status"] for h in iter_pages(api, f"/accounts/{account}/credit_holds")
    }
    assert listed == {"inv-t": "EXPIRED", "inv-u": "HELD"}
    assert _figures(api, account, asOf="2027-04-01T09:00:30Z") == (100, 70)
    assert "expiresIn" in _fail(
        _place(api, account, "inv-v", [("api", 1)], "credit_debits", expiresIn="PT1M"), 400
    )
    assert "24 hours" in _fail(_place(api, account, "inv-v", [("api", 1)], expiresIn="PT25H"), 400)
