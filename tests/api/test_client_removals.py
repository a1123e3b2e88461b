"""Migration gaps, through Togai's official client with only the host changed: `update_customer`
(PATCH), `delete_customer`, `delete_account` and `delete_event_schema` (they answered 405).

A deletion is refused (409, with the reason) while money, usage or a plan hangs on what it
would delete, and then changes nothing: each refused case reads everything back unchanged.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import ValidationError
from togai_client import EventSchemasApi
from togai_client.exceptions import ApiException, NotFoundException
from togai_client.models import (
    Address,
    BaseSuccessResponse,
    CreateAccountRequest,
    CreateEventSchemaRequest,
    Customer,
    EventAttributeSchema,
    UpdateCustomerRequest,
)

from tests.api.test_conformance_credits import NOW, Togai, frozen_client, raises
from tests.helpers import ok_json, usage_event
from tests.servers import Server, iter_pages


class Client(Togai):
    def __init__(self, server: Server, key: str | None) -> None:
        super().__init__(server, key)
        self.schemas = EventSchemasApi(self.api_client)

    def metered(self) -> tuple[str, str]:
        """A schema with a `tokens` attribute and a feature consuming it: (schema, feature)."""
        schema = "calls " + secrets.token_hex(3)
        self.schemas.create_event_schema(
            CreateEventSchemaRequest(
                name=schema, attributes=[EventAttributeSchema(name="tokens")], dimensions=[]
            )
        )
        body = {
            "name": "Tokens",
            "schemaAssociations": [{"schemaName": schema, "attributeName": "tokens"}],
        }
        return schema, ok_json(self.http.post("/features", json=body))["id"]

    def account_view(self, account_id: str) -> list[Any]:
        """Everything of an account a refused deletion must leave as it was."""
        get = self.http.get
        features = [f["id"] for f in iter_pages(self.http, "/features")]
        return [
            get(f"/accounts/{account_id}").json(),
            get(f"/accounts/{account_id}/credit_balance").json(),
            list(iter_pages(self.http, "/credits", account_id=account_id)),
            list(iter_pages(self.http, f"/accounts/{account_id}/credit_holds")),
            get(f"/accounts/{account_id}/plans").json(),
            list(iter_pages(self.http, f"/accounts/{account_id}/purchases")),
            get(f"/accounts/{account_id}/entitlements").json(),
            [
                list(iter_pages(self.http, f"/accounts/{account_id}/features/{f}/entries"))
                for f in features
            ],
            get(f"/accounts/{account_id}/auto_topup").json(),
            [get(f"/customers/{c['id']}").json() for c in iter_pages(self.http, "/customers")],
        ]


@pytest.fixture
def tg(server: Server) -> Iterator[Client]:
    yield from frozen_client(server, Client)


def _conflict(call: Callable[[], object]) -> str:
    """The message of a 409 `{"message"}` (a plain ApiException: the client types no 409)."""
    exc = raises(ApiException, call)
    assert exc.status == 409 and exc.body, exc.body
    parsed = json.loads(exc.body)
    assert list(parsed) == ["message"]
    return str(parsed["message"])


# --- update_customer --------------------------------------------------------------------------


def test_update_customer_changes_only_the_fields_given(tg: Client, server: Server) -> None:
    account = tg.new_account()
    customer_id = tg.accounts.get_account(account).customer_id
    before = tg.customers.get_customer(customer_id)
    server.set_clock("2030-06-15T13:00:00Z")
    changed = tg.customers.update_customer(customer_id, UpdateCustomerRequest(name="Renamed Inc"))
    assert isinstance(changed, Customer)
    assert changed.name == "Renamed Inc"
    assert (changed.primary_email, changed.address, changed.created_at) == (
        before.primary_email,
        before.address,
        before.created_at,
    )
    assert changed.updated_at > before.updated_at
    address = Address(line1="2 Side St", city="Shelbyville", country="US")
    moved = tg.customers.update_customer(
        customer_id, UpdateCustomerRequest(primary_email="ap@renamed.example", address=address)
    )
    assert (moved.name, moved.primary_email) == ("Renamed Inc", "ap@renamed.example")
    assert moved.address == address  # the address is replaced whole
    assert moved.billing_address == "2 Side St, Shelbyville, US"
    assert tg.customers.get_customer(customer_id) == moved
    # The same change again changes nothing, not even updatedAt.
    server.set_clock("2030-06-15T14:00:00Z")
    again = tg.customers.update_customer(customer_id, UpdateCustomerRequest(name="Renamed Inc"))
    assert again == moved
    # Its accounts are untouched.
    assert tg.accounts.get_account(account).customer_id == customer_id


def test_update_customer_bad_input_changes_nothing(tg: Client, server: Server) -> None:
    account = tg.new_account()
    customer_id = tg.accounts.get_account(account).customer_id
    before = tg.customers.get_customer(customer_id)
    with pytest.raises(ValidationError):  # the client itself refuses a 2-character name
        UpdateCustomerRequest(name="ab")
    for body, field in (
        ({"name": "ab"}, "name"),
        ({"name": 123}, "name"),
        ({"primaryEmail": "x" * 321}, "primaryEmail"),
        ({"address": "Main St"}, "address"),
        ({"colour": "red"}, "colour"),
    ):
        r = tg.http.patch(f"/customers/{customer_id}", json=body)
        assert r.status_code == 400 and field in r.json()["message"], r.text
    raises(
        NotFoundException,
        lambda: tg.customers.update_customer("nobody", UpdateCustomerRequest(name="Someone")),
    )
    other = Client(server, server.key())
    try:
        raises(
            NotFoundException,
            lambda: other.customers.update_customer(
                customer_id, UpdateCustomerRequest(name="Mine")
            ),
        )
    finally:
        other.close()
    assert tg.customers.get_customer(customer_id) == before


# --- delete_customer and delete_account ---------------------------------------------------------


def test_a_customer_with_accounts_is_kept_then_deleted_once_they_go(tg: Client) -> None:
    account = tg.new_account()
    customer_id = tg.accounts.get_account(account).customer_id
    second = "acc-" + secrets.token_hex(4)
    tg.accounts.create_account(
        CreateAccountRequest(id=second, name="Second account", customer_id=customer_id)
    )
    before = tg.account_view(account)
    message = _conflict(lambda: tg.customers.delete_customer(customer_id))
    assert message == (
        f"customer {customer_id} cannot be deleted: it has account "
        f"{', '.join(sorted([account, second]))} (delete its accounts first)"
    )
    assert tg.account_view(account) == before
    for each in (account, second):
        assert tg.accounts.delete_account(each) == BaseSuccessResponse(success=True)
    assert tg.customers.delete_customer(customer_id) == BaseSuccessResponse(success=True)
    raises(NotFoundException, lambda: tg.customers.get_customer(customer_id))
    raises(NotFoundException, lambda: tg.customers.delete_customer(customer_id))
    raises(NotFoundException, lambda: tg.accounts.get_account(account))
    # An account for the deleted customer cannot be made.
    raises(
        NotFoundException,
        lambda: tg.accounts.create_account(
            CreateAccountRequest(id="acc-late", name="Too late", customer_id=customer_id)
        ),
    )


def _tie_credit(tg: Client, account: str) -> None:
    tg.grant(account, 10)


def _tie_hold(tg: Client, account: str) -> None:
    tg.grant(account, 10)
    tg.hold(account, "inv-1", 4)


def _tie_entry(tg: Client, account: str) -> None:
    _, feature = tg.metered()
    ok_json(tg.http.post(f"/accounts/{account}/features/{feature}/entries", json={"granted": 5}))


def _tie_schedule(tg: Client, account: str) -> None:
    _, feature = tg.metered()
    plan = {
        "name": "Plan",
        "type": "BILLING",
        "features": [{"featureId": feature, "value": "true"}],
    }
    plan_id = ok_json(tg.http.post("/entitlement_plans", json=plan))["id"]
    ok_json(
        tg.http.post(
            f"/accounts/{account}/plans", json={"planId": plan_id, "effectiveFrom": "2030-07-01"}
        )
    )


def _tie_purchase(tg: Client, account: str) -> None:
    _, feature = tg.metered()
    plan = {
        "name": "Pack",
        "type": "PURCHASE",
        "features": [{"featureId": feature, "creditsPerCycle": 5}],
    }
    plan_id = ok_json(tg.http.post("/entitlement_plans", json=plan))["id"]
    ok_json(tg.http.post(f"/accounts/{account}/purchases", json={"pricePlanId": plan_id}))


def _tie_event(tg: Client, account: str) -> None:
    schema, _ = tg.metered()
    # Refused (nothing covers it), yet recorded: usage the ledger keeps, with its reason.
    event = usage_event(schema, account, NOW, "evt-" + secrets.token_hex(3), tokens="1")
    assert tg.http.post("/entitled", json=event).status_code == 403


def _tie_alert(tg: Client, account: str) -> None:
    body = {
        "alertTemplateId": "credit_balance_below",
        "interval": 60,
        "status": "ACTIVE",
        "entityDetails": {"account": {"id": account}},
        "parameters": {"threshold": {"amount": "10"}},
    }
    ok_json(tg.http.post("/alerts", json=body))


TIES: dict[str, tuple[Callable[[Client, str], None], str]] = {
    "credit": (_tie_credit, "it has credits, which the ledger keeps"),
    "hold": (_tie_hold, "it has credits and credit holds, which the ledger keeps"),
    "entry": (_tie_entry, "it has feature entries, which the ledger keeps"),
    "schedule": (_tie_schedule, "it has plan schedules, which the ledger keeps"),
    "purchase": (_tie_purchase, "it has feature entries and purchases, which the ledger keeps"),
    "event": (_tie_event, "it has recorded events, which the ledger keeps"),
    "alert": (_tie_alert, "ACTIVE alert alert."),
}


@pytest.mark.parametrize("tie", sorted(TIES))
def test_an_account_something_hangs_on_is_kept(tg: Client, tie: str) -> None:
    account = tg.new_account()
    make, reason = TIES[tie]
    make(tg, account)
    before = tg.account_view(account)
    message = _conflict(lambda: tg.accounts.delete_account(account))
    assert message.startswith(f"account {account} cannot be deleted: {reason}"), message
    assert tg.account_view(account) == before
    customer_id = tg.accounts.get_account(account).customer_id
    assert "it has account" in _conflict(lambda: tg.customers.delete_customer(customer_id))


def test_an_inactive_alert_lets_its_account_go_and_cannot_come_back(tg: Client) -> None:
    account = tg.new_account()
    _tie_alert(tg, account)
    [alert] = [
        a for a in iter_pages(tg.http, "/alerts") if a["entityDetails"]["account"]["id"] == account
    ]
    assert "set it INACTIVE first" in _conflict(lambda: tg.accounts.delete_account(account))
    ok_json(tg.http.patch(f"/alerts/{alert['id']}", json={"status": "INACTIVE"}))
    assert tg.accounts.delete_account(account) == BaseSuccessResponse(success=True)
    # Watching an account that no longer exists, it cannot be switched back on.
    r = tg.http.patch(f"/alerts/{alert['id']}", json={"status": "ACTIVE"})
    assert r.status_code == 400 and f"account {account} not found" in r.json()["message"]
    assert ok_json(tg.http.get(f"/alerts/{alert['id']}"))["status"] == "INACTIVE"


def test_an_account_with_only_settings_is_deleted_with_them(tg: Client, server: Server) -> None:
    account = tg.new_account()
    flag = ok_json(tg.http.post("/features", json={"name": "SSO", "schemaAssociations": []}))["id"]
    ok_json(tg.http.put(f"/accounts/{account}/entitlements/{flag}", json={"value": "true"}))
    topup = {"thresholdAmount": 10, "topupAmount": 50, "maxPerMonth": 3}
    ok_json(tg.http.put(f"/accounts/{account}/auto_topup", json=topup))
    customer_id = tg.accounts.get_account(account).customer_id
    other = Client(server, server.key())
    try:  # another organization cannot reach it
        raises(NotFoundException, lambda: other.accounts.delete_account(account))
    finally:
        other.close()
    assert tg.accounts.delete_account(account) == BaseSuccessResponse(success=True)
    raises(NotFoundException, lambda: tg.accounts.get_account(account))
    raises(NotFoundException, lambda: tg.accounts.delete_account(account))
    assert account not in [a["id"] for a in iter_pages(tg.http, "/accounts")]
    # The id can be used again, and the new account starts with none of the old settings.
    tg.accounts.create_account(
        CreateAccountRequest(id=account, name="Account again", customer_id=customer_id)
    )
    assert tg.http.get(f"/accounts/{account}/entitlements").json() == {"data": []}
    assert tg.http.get(f"/accounts/{account}/auto_topup").status_code == 404
    assert tg.accounts.delete_account(account) == BaseSuccessResponse(success=True)
    assert tg.customers.delete_customer(customer_id) == BaseSuccessResponse(success=True)


# --- delete_event_schema ----------------------------------------------------------------------


def test_a_schema_a_feature_consumes_is_kept(tg: Client) -> None:
    schema, feature = tg.metered()
    account = tg.new_account()
    ok_json(tg.http.post(f"/accounts/{account}/features/{feature}/entries", json={"granted": 5}))
    event = usage_event(schema, account, NOW, "evt-kept", tokens="2")
    assert ok_json(tg.http.post("/entitled", json=event)) == {"success": True}
    before = [tg.schemas.get_event_schema(schema), tg.account_view(account)]
    message = _conflict(lambda: tg.schemas.delete_event_schema(schema))
    assert message == (
        f"event schema {schema} cannot be deleted: feature {feature} consumes it "
        "(remove it from the feature's schemaAssociations first)"
    )
    assert [tg.schemas.get_event_schema(schema), tg.account_view(account)] == before
    # Once no feature consumes it, it goes; what its events drew stays drawn.
    ok_json(tg.http.patch(f"/features/{feature}", json={"schemaAssociations": []}))
    assert tg.schemas.delete_event_schema(schema) == BaseSuccessResponse(success=True)
    raises(NotFoundException, lambda: tg.schemas.get_event_schema(schema))
    raises(NotFoundException, lambda: tg.schemas.delete_event_schema(schema))
    assert ok_json(tg.http.get(f"/accounts/{account}/features/{feature}"))["balance"] == 3
    assert schema not in [s["name"] for s in iter_pages(tg.http, "/event_schema")]
    # Associating a feature with it now finds no schema.
    again = {"schemaAssociations": [{"schemaName": schema, "attributeName": "tokens"}]}
    assert tg.http.patch(f"/features/{feature}", json=again).status_code == 404
    # Its events' ids are still remembered, and the account's usage can't be deleted away.
    assert tg.http.post("/entitled", json=event).status_code == 400  # no such schema now
    assert "recorded events" in _conflict(lambda: tg.accounts.delete_account(account))


def test_deletes_of_unknown_or_foreign_ids_are_404(tg: Client, server: Server) -> None:
    schema, _ = tg.metered()
    account = tg.new_account()
    customer_id = tg.accounts.get_account(account).customer_id
    before = [tg.schemas.get_event_schema(schema), tg.account_view(account)]
    other = Client(server, server.key())
    try:
        raises(NotFoundException, lambda: other.schemas.delete_event_schema(schema))
        raises(NotFoundException, lambda: other.accounts.delete_account(account))
        raises(NotFoundException, lambda: other.customers.delete_customer(customer_id))
    finally:
        other.close()
    raises(NotFoundException, lambda: tg.schemas.delete_event_schema("no such schema"))
    assert tg.http.delete("/accounts/" + "a" * 51).status_code == 400
    assert tg.http.delete(f"/accounts/{account}", params={"force": "true"}).status_code == 400
    assert [tg.schemas.get_event_schema(schema), tg.account_view(account)] == before
