"""Togai's official Python client (`togai_client`) against a real grantledger server.

Only `Configuration(host=...)` differs from talking to Togai: every call must come back as a
parsed model (never `None`, never a pydantic ValidationError), and every error as the client's
typed exception carrying the parsed `{"message": ...}`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import httpx
import pytest
from togai_client import (
    AccountsApi,
    ApiClient,
    Configuration,
    CreditsApi,
    CustomersApi,
)
from togai_client.exceptions import (
    ApiException,
    BadRequestException,
    NotFoundException,
    UnauthorizedException,
)
from togai_client.models import (
    Account,
    Address,
    CreateAccountAliasRequest,
    CreateAccountRequest,
    CreateAccountRequestWithoutCustomerId,
    CreateCreditRequest,
    CreateCreditResponse,
    CreateCustomerRequest,
    CreateCustomerResponse,
    CreateEntitySetting,
    Credit,
    CreditBalanceResponse,
    CreditDetailsResponse,
    CreditRequest,
    Customer,
    ListCreditsResponse,
    UpdateAccountRequest,
)

from tests.helpers import ok_json
from tests.servers import Server

NOW = "2030-06-15T12:00:00Z"
TODAY = date(2030, 6, 15)


T = TypeVar("T", bound="Togai")


class Togai:
    """The official client's API classes for one organization, plus raw HTTP for extensions."""

    def __init__(self, server: Server, key: str | None) -> None:
        self.server = server
        self.key = key
        self.api_client = ApiClient(Configuration(host=server.base_url, access_token=key))
        self.credits = CreditsApi(self.api_client)
        self.customers = CustomersApi(self.api_client)
        self.accounts = AccountsApi(self.api_client)
        self.http = httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )

    def close(self) -> None:
        self.http.close()
        self.api_client.__exit__(None, None, None)

    def new_account(self, currency: str = "USD", account_id: str | None = None) -> str:
        account_id = account_id or "acc-" + secrets.token_hex(4)
        created = self.customers.create_customer(
            CreateCustomerRequest(
                id="cus-" + secrets.token_hex(4),
                name="Customer of " + account_id,
                primary_email="billing@example.com",
                address=Address(country="US"),
                account=CreateAccountRequestWithoutCustomerId(
                    id=account_id, name="Account " + account_id, invoice_currency=currency
                ),
            )
        )
        assert isinstance(created, CreateCustomerResponse)
        assert created.account is not None and created.account.id == account_id
        return account_id

    def grant(self, account_id: str, amount: float | int, **fields: Any) -> Credit:
        request = CreditRequest(
            account_id=account_id,
            purpose=fields.pop("purpose", "Prepaid Credit"),
            effective_from=fields.pop("effective_from", date(2020, 1, 1)),
            priority=fields.pop("priority", 1),
            credit_amount=amount,
            **fields,
        )
        answer = self.credits.create_credit(CreateCreditRequest(credit_requests=[request]))
        assert isinstance(answer, CreateCreditResponse)
        assert len(answer.credits) == 1
        return answer.credits[0]

    def debit(self, account_id: str, invoice_id: str, *lines: tuple[str, Any]) -> dict[str, Any]:
        body = {"invoiceId": invoice_id, "lines": [{"entityId": e, "amount": a} for e, a in lines]}
        return ok_json(self.http.post(f"/accounts/{account_id}/credit_debits", json=body))

    def hold(self, account_id: str, invoice_id: str, amount: Any) -> dict[str, Any]:
        body = {"invoiceId": invoice_id, "lines": [{"entityId": "api-calls", "amount": amount}]}
        return ok_json(self.http.post(f"/accounts/{account_id}/credit_holds", json=body))


def frozen_client(server: Server, kind: type[T]) -> Iterator[T]:
    """The official client for a brand-new organization, with the server clock frozen."""
    server.set_clock(NOW)
    client = kind(server, server.key())
    try:
        yield client
    finally:
        client.close()
        server.set_clock(None)


@pytest.fixture
def togai(server: Server) -> Iterator[Togai]:
    yield from frozen_client(server, Togai)


def raises(exc_type: type[ApiException], call: Callable[[], object]) -> ApiException:
    """Run a client call that must fail with `exc_type` and a parsed ErrorResponse."""
    with pytest.raises(exc_type) as info:
        call()
    exc = info.value
    assert type(exc) is exc_type, f"{type(exc).__name__}: {exc}"
    assert exc.body, "error without a body"
    assert exc.headers is not None
    assert exc.headers.get("content-type", "").startswith("application/json")
    if exc.status in (400, 401, 403, 404, 429):
        assert exc.data is not None, f"error body did not parse as ErrorResponse: {exc.body}"
        assert exc.data.message and len(exc.data.message) <= 500
    return exc


# --- customers and accounts -----------------------------------------------------------------


def test_customers_create_get_list_with_paging(togai: Togai) -> None:
    ids = sorted(f"cus-{i}-{secrets.token_hex(3)}" for i in range(5))
    for customer_id in ids:
        created = togai.customers.create_customer(
            CreateCustomerRequest(
                id=customer_id,
                name="Customer " + customer_id,
                primary_email="ap@example.com",
                address=Address(line1="1 Main St", city="Springfield", country="US"),
                settings=[
                    CreateEntitySetting(
                        id="setting-1",
                        value="net-30",
                        namespace="USER",
                        name="terms",
                        data_type="STRING",
                    )
                ],
            )
        )
        assert isinstance(created, CreateCustomerResponse)
        assert created.id == customer_id
        assert created.togai_customer_id.startswith("customer.")
        assert created.account is None

    one = togai.customers.get_customer(ids[2])
    assert isinstance(one, Customer)
    assert one.id == ids[2]
    assert one.status == "ACTIVE"
    assert one.address.city == "Springfield"
    assert "Springfield" in one.billing_address
    assert one.created_at.tzinfo is not None

    seen: list[str] = []
    token: str | None = None
    for _ in range(10):
        page = togai.customers.get_customers(next_token=token, page_size=2.0)
        assert page is not None and page.data is not None
        assert len(page.data) <= 2
        seen.extend(c.id for c in page.data)
        token = page.next_token
        if token is None:
            break
    assert seen == ids

    dup = raises(
        ApiException,
        lambda: togai.customers.create_customer(
            CreateCustomerRequest(
                id=ids[0], name="Again", primary_email="x@example.com", address=Address()
            )
        ),
    )
    assert dup.status == 409
    assert "already exists" in dup.body
    raises(NotFoundException, lambda: togai.customers.get_customer("nobody"))


def test_accounts_create_get_list_update(togai: Togai) -> None:
    first = togai.new_account(currency="EUR")
    customer_id = togai.accounts.get_account(first).customer_id
    second_id = "acc-" + secrets.token_hex(4)
    created = togai.accounts.create_account(
        CreateAccountRequest(
            id=second_id,
            name="Second account",
            customer_id=customer_id,
            invoice_currency="INR",
            aliases=["alias-one"],
            # The client sends datetimes without an offset: the server must read them as UTC.
            account_aliases=[
                CreateAccountAliasRequest(
                    value="alias-two", effective_from=datetime(2030, 1, 1, 0, 0)
                )
            ],
            address=Address(country="IN"),
            primary_email="ops@example.com",
            net_term_days=30,
            metadata={"gstn": "22AAAAA0000A1Z5"},
            tags=["Enterprise"],
        )
    )
    assert isinstance(created, Account)
    assert created.id == second_id
    assert created.togai_account_id.startswith("account.")
    assert created.invoice_currency == "INR"
    assert created.status == "ACTIVE"
    assert [a.alias for a in created.aliases or []] == ["alias-one", "alias-two"]
    assert created.tags == ["enterprise"]
    assert created.metadata == {"gstn": "22AAAAA0000A1Z5"}

    got = togai.accounts.get_account(
        second_id, effective_on=datetime(2030, 6, 1, tzinfo=UTC), include_group_details=True
    )
    assert isinstance(got, Account)
    assert got.net_term_days == 30
    assert got.address is not None and got.address.country == "IN"

    updated = togai.accounts.update_account(
        second_id,
        UpdateAccountRequest(name="Renamed account", metadata={"vatn": "1"}, tags=["VIP"]),
    )
    assert isinstance(updated, Account)
    assert updated.name == "Renamed account"
    assert updated.metadata == {"vatn": "1"}
    assert updated.tags == ["vip"]
    assert updated.invoice_currency == "INR"
    assert togai.accounts.get_account(second_id).name == "Renamed account"

    listed: list[str] = []
    token: str | None = None
    for _ in range(5):
        page = togai.accounts.get_accounts(next_token=token, page_size=1)
        assert page is not None and page.data is not None
        listed.extend(a.id for a in page.data)
        token = page.next_token
        if token is None:
            break
    assert sorted(listed) == sorted([first, second_id])

    raises(NotFoundException, lambda: togai.accounts.get_account("missing"))
    raises(
        NotFoundException,
        lambda: togai.accounts.update_account("missing", UpdateAccountRequest(name="Nope")),
    )
    raises(
        NotFoundException,
        lambda: togai.accounts.create_account(
            CreateAccountRequest(id="orphan", name="Orphan", customer_id="no-such-customer")
        ),
    )
    dup = raises(
        ApiException,
        lambda: togai.accounts.create_account(
            CreateAccountRequest(id=second_id, name="Again", customer_id=customer_id)
        ),
    )
    assert dup.status == 409
    raises(
        BadRequestException,
        lambda: togai.accounts.update_account(
            second_id, UpdateAccountRequest(invoice_currency="usd")
        ),
    )


# --- credits ---------------------------------------------------------------------------------


def test_grant_reads_back_exact_amounts(togai: Togai) -> None:
    account = togai.new_account(currency="EUR")
    exact = CreditRequest(
        account_id=account,
        purpose="Prepaid Credit",
        effective_from=date(2030, 1, 1),
        effective_until=date(2030, 12, 31),
        credit_amount=0.3,
        priority=2,
        applicable_entity_ids=["ALL_USAGE_METER_RATE_CARDS", "umg.1znQx9jiIXw.r44fc"],
        grantor_id="addon.22IZs2ZVEnw.0zDFe",
        idempotency_key="grant-" + account,
    )
    answer = togai.credits.create_credit(
        CreateCreditRequest(
            credit_requests=[
                exact,
                CreditRequest(
                    account_id=account,
                    purpose="Goodwill",
                    effective_from=date(2030, 1, 1),
                    credit_amount=100,
                    priority=1,
                ),
            ]
        )
    )
    assert isinstance(answer, CreateCreditResponse)
    small, big = answer.credits
    assert small.credit_amount == 0.3
    assert big.credit_amount == 100 and isinstance(big.credit_amount, int)
    assert small.id.startswith("cred.") and len(small.id) <= 50
    assert small.status == "ACTIVE"
    assert small.account_id == account
    assert small.customer_id
    assert small.credit_unit == "EUR"
    assert small.priority == 2
    assert small.effective_from == date(2030, 1, 1)
    assert small.effective_until == date(2030, 12, 31)
    assert big.effective_until is None
    assert small.applicable_entity_ids == ["ALL_USAGE_METER_RATE_CARDS", "umg.1znQx9jiIXw.r44fc"]
    assert small.grantor_id == "addon.22IZs2ZVEnw.0zDFe"
    assert small.idempotency_key == "grant-" + account
    assert small.hold_amount == 0 and small.consumed_amount == 0
    assert small.created_at == datetime(2030, 6, 15, 12, tzinfo=UTC)

    details = togai.credits.get_credit_details(small.id)
    assert isinstance(details, CreditDetailsResponse)
    assert details.id == small.id
    assert details.credit_amount == 0.3
    assert [(t.transaction_type, t.amount) for t in details.transactions] == [("CREDITED", 0.3)]
    assert details.transactions[0].credit_id == small.id

    balance = togai.credits.credit_balance_for_account(account)
    assert isinstance(balance, CreditBalanceResponse)
    assert balance.active_credits == 100.3
    assert balance.available_balance == 100.3
    assert balance.running_balance == 100.3
    assert balance.inapplicable_credits == 0
    assert balance.unit == "EUR"
    assert balance.last_updated_at == datetime(2030, 6, 15, 12, tzinfo=UTC)

    # The same idempotency key and payload returns the credit it made; nothing new.
    replay = togai.credits.create_credit(CreateCreditRequest(credit_requests=[exact]))
    assert replay is not None and [c.id for c in replay.credits] == [small.id]
    listed = togai.credits.list_credits(account_id=account)
    assert listed is not None and len(listed.data) == 2

    # Same key, different payload: 409, which the client raises as a plain ApiException.
    conflict = raises(
        ApiException,
        lambda: togai.grant(account, 0.4, idempotency_key="grant-" + account),
    )
    assert conflict.status == 409
    assert "idempotencyKey" in conflict.body


def test_consumption_shows_in_details_and_balance(togai: Togai, server: Server) -> None:
    """Togai's example balance 1000 / 800 / 700 / 100, built through the ledger."""
    account = togai.new_account()
    main = togai.grant(account, 1000, effective_from=date(2030, 6, 1))
    later = togai.grant(account, 100, effective_from=date(2030, 7, 1))
    debit = togai.debit(account, "inv-1", ("api-calls", 199.9), ("storage", 0.1))
    assert debit["coveredAmount"] == 200
    togai.hold(account, "inv-2", 100)

    balance = togai.credits.credit_balance_for_account(account)
    assert balance is not None
    assert (
        balance.active_credits,
        balance.available_balance,
        balance.running_balance,
        balance.inapplicable_credits,
    ) == (1000, 800, 700, 100)

    details = togai.credits.get_credit_details(main.id)
    assert details is not None
    assert details.consumed_amount == 200
    assert details.hold_amount == 100
    assert details.status == "ACTIVE"
    debits = [t for t in details.transactions if t.transaction_type == "DEBITED"]
    # Both lines were debited at the same instant: their order among themselves is not fixed.
    assert sorted((t.invoice_id, t.entity_id, t.amount) for t in debits) == [
        ("inv-1", "api-calls", 199.9),
        ("inv-1", "storage", 0.1),
    ]
    assert all(t.id.startswith("ctxn.") for t in details.transactions)

    # A credit with money on hold cannot be voided; once released it can.
    held = raises(ApiException, lambda: togai.credits.void_credit(main.id))
    assert held.status == 409 and "hold" in held.body
    server.set_clock("2030-06-15T12:00:05Z")
    r = togai.http.post(f"/accounts/{account}/credit_holds/inv-2/release")
    assert r.status_code == 200, r.text
    voided = togai.credits.void_credit(main.id)
    assert isinstance(voided, Credit)
    assert voided.status == "VOIDED"
    assert voided.consumed_amount == 200
    again = togai.credits.void_credit(main.id)
    assert again is not None and again.status == "VOIDED"
    details = togai.credits.get_credit_details(main.id)
    assert details is not None
    assert [t.transaction_type for t in details.transactions][-1] == "VOIDED"
    assert details.transactions[-1].amount == 800

    balance = togai.credits.credit_balance_for_account(account)
    assert balance is not None
    assert (balance.active_credits, balance.available_balance) == (0, 0)
    assert balance.inapplicable_credits == 100
    assert togai.credits.get_credit_details(later.id) is not None


def test_consumed_and_expired_credits(togai: Togai, server: Server) -> None:
    account = togai.new_account()
    spent = togai.grant(account, 5)
    ending = togai.grant(account, 7.25, effective_until=date(2030, 6, 20), priority=9)
    togai.debit(account, "inv-all", ("api-calls", 5))

    consumed = togai.credits.get_credit_details(spent.id)
    assert consumed is not None and consumed.status == "CONSUMED"
    refused = raises(ApiException, lambda: togai.credits.void_credit(spent.id))
    assert refused.status == 409 and "CONSUMED" in refused.body

    # The day after effectiveUntil the credit reads EXPIRED, sweeper or not.
    server.set_clock("2030-06-21T00:00:01Z")
    expired = togai.credits.get_credit_details(ending.id)
    assert expired is not None and expired.status == "EXPIRED"
    assert [(t.transaction_type, t.amount) for t in expired.transactions] == [
        ("CREDITED", 7.25),
        ("EXPIRED", 7.25),
    ]
    page = togai.credits.list_credits(status="EXPIRED", account_id=account)
    assert page is not None and [c.id for c in page.data] == [ending.id]
    refused = raises(ApiException, lambda: togai.credits.void_credit(ending.id))
    assert refused.status == 409 and "EXPIRED" in refused.body
    balance = togai.credits.credit_balance_for_account(account)
    assert balance is not None and balance.available_balance == 0


def test_list_credits_pages_and_filters(togai: Togai) -> None:
    account = togai.new_account()
    other = togai.new_account()
    # Distinct priorities fix the burn-down order: the debit below takes the first credit.
    granted = [togai.grant(account, n + 1, priority=n).id for n in range(7)]
    togai.grant(other, 50)
    togai.debit(account, "inv-x", ("api-calls", 1))  # consumes the first credit (amount 1)

    pages: list[ListCreditsResponse] = []
    token: str | None = None
    for _ in range(10):
        page = togai.credits.list_credits(next_token=token, account_id=account, page_size=3)
        assert isinstance(page, ListCreditsResponse)
        pages.append(page)
        token = page.next_token
        if token is None:
            break
    assert [len(p.data) for p in pages] == [3, 3, 1]
    assert [c.id for p in pages for c in p.data] == sorted(granted)

    everything = togai.credits.list_credits()
    assert everything is not None and len(everything.data) == 8
    assert everything.next_token is None
    by_id = togai.credits.list_credits(id=granted[3])
    assert by_id is not None and [c.id for c in by_id.data] == [granted[3]]
    consumed = togai.credits.list_credits(status="CONSUMED")
    assert consumed is not None and [c.id for c in consumed.data] == [granted[0]]
    active = togai.credits.list_credits(status="ACTIVE", account_id=account)
    assert active is not None and len(active.data) == 6
    assert togai.credits.list_credits(account_id="nobody") == ListCreditsResponse(data=[])

    raises(BadRequestException, lambda: togai.credits.list_credits(status="PROCESSED"))
    raises(BadRequestException, lambda: togai.credits.list_credits(page_size=500))
    raises(BadRequestException, lambda: togai.credits.list_credits(page_size=0))
    first = togai.credits.list_credits(account_id=account, page_size=3)
    assert first is not None and first.next_token
    # A token only continues the query it came from, and cannot be forged.
    raises(
        BadRequestException,
        lambda: togai.credits.list_credits(next_token=first.next_token, account_id=other),
    )
    raises(BadRequestException, lambda: togai.credits.list_credits(next_token="forged.token"))


def test_path_ids_are_url_decoded(togai: Togai) -> None:
    account = togai.new_account(account_id="ACC#1$a b+c")
    credit = togai.grant(account, 12.5)
    assert credit.account_id == "ACC#1$a b+c"
    balance = togai.credits.credit_balance_for_account(account)
    assert balance is not None and balance.available_balance == 12.5
    got = togai.accounts.get_account(account)
    assert got is not None and got.id == account
    page = togai.credits.list_credits(account_id=account)
    assert page is not None and [c.id for c in page.data] == [credit.id]


# --- errors ------------------------------------------------------------------------------------


def test_unauthorized(server: Server) -> None:
    for key in (None, "gl_not_a_real_key"):
        client = Togai(server, key)
        try:
            exc = raises(UnauthorizedException, lambda c=client: c.credits.list_credits())
            assert exc.status == 401
            raises(
                UnauthorizedException,
                lambda c=client: c.credits.credit_balance_for_account("any"),
            )
            raises(UnauthorizedException, lambda c=client: c.customers.get_customers())
        finally:
            client.close()


def test_not_found_and_tenant_isolation(togai: Togai, server: Server) -> None:
    account = togai.new_account()
    credit = togai.grant(account, 10)
    raises(NotFoundException, lambda: togai.credits.get_credit_details("cred.00000000000.00000"))
    raises(NotFoundException, lambda: togai.credits.void_credit("cred.00000000000.00000"))
    raises(NotFoundException, lambda: togai.credits.credit_balance_for_account("missing"))
    missing = raises(NotFoundException, lambda: togai.grant("missing", 1))
    assert missing.data is not None and "missing" in missing.data.message

    stranger = Togai(server, server.key())
    try:
        raises(NotFoundException, lambda: stranger.credits.get_credit_details(credit.id))
        raises(NotFoundException, lambda: stranger.credits.void_credit(credit.id))
        raises(NotFoundException, lambda: stranger.credits.credit_balance_for_account(account))
        raises(NotFoundException, lambda: stranger.accounts.get_account(account))
        raises(NotFoundException, lambda: stranger.grant(account, 1))
        page = stranger.credits.list_credits(id=credit.id)
        assert page is not None and page.data == []
    finally:
        stranger.close()
    details = togai.credits.get_credit_details(credit.id)
    assert details is not None and details.status == "ACTIVE"


def test_bad_requests(togai: Togai) -> None:
    account = togai.new_account()
    bad = [
        {"credit_amount": -1},
        {"credit_amount": 0},
        {"credit_amount": None},  # optional in the client, required by grantledger
        {"credit_amount": 1, "effective_until": date(2019, 12, 31)},
        {"credit_amount": 1, "priority": -1},
        {"credit_amount": 0.00000000001},  # rounds half-even to 0 at 10 decimal places
    ]
    for fields in bad:
        amount = fields.pop("credit_amount")
        exc = raises(BadRequestException, lambda a=amount, f=fields: togai.grant(account, a, **f))
        assert exc.data is not None
    empty = raises(
        BadRequestException,
        lambda: togai.credits.create_credit(CreateCreditRequest(credit_requests=[])),
    )
    assert empty.data is not None
    raises(BadRequestException, lambda: togai.credits.create_credit())
    page = togai.credits.list_credits(account_id=account)
    assert page is not None and page.data == []
