"""Customers and accounts over HTTP: Togai shapes, caller-chosen ids, 201s, paging, tenancy."""

from __future__ import annotations

import secrets
from typing import Any

import httpx

from tests.helpers import balance, error_message, grant, ok_json
from tests.servers import Server, iter_pages


def _uid(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def _customer_body(customer_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": customer_id,
        "name": "Customer " + customer_id,
        "primaryEmail": "billing@example.com",
        "address": {"line1": "1 Main St", "city": "Springfield", "country": "US"},
        **extra,
    }


def _create_customer(api: httpx.Client, customer_id: str | None = None) -> dict[str, Any]:
    return ok_json(api.post("/customers", json=_customer_body(customer_id or _uid("cus"))), 201)


def _create_account(api: httpx.Client, customer_id: str, **extra: Any) -> dict[str, Any]:
    body = {"id": extra.pop("id", _uid("acc")), "name": "Account", "customerId": customer_id}
    return ok_json(api.post("/accounts", json={**body, **extra}), 201)


# --- customers ----------------------------------------------------------------------------


def test_create_customer_answers_201_with_togai_shape(api: httpx.Client) -> None:
    customer_id = _uid("cus")
    r = api.post(
        "/customers",
        json=_customer_body(
            customer_id,
            settings=[
                {
                    "id": "s1",
                    "value": "v",
                    "namespace": "USER",
                    "name": "n",
                    "dataType": "STRING",
                }
            ],
        ),
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["id"] == customer_id
    assert body["togaiCustomerId"].startswith("customer.")
    assert body["name"] == "Customer " + customer_id
    assert body["primaryEmail"] == "billing@example.com"
    assert body["address"] == {"line1": "1 Main St", "city": "Springfield", "country": "US"}
    assert body["billingAddress"] == "1 Main St, Springfield, US"
    assert body["status"] == "ACTIVE"
    assert body["settings"][0]["dataType"] == "STRING"
    assert body["createdAt"].endswith("Z") and body["updatedAt"].endswith("Z")
    assert "account" not in body

    got = api.get(f"/customers/{customer_id}")
    assert got.status_code == 200, got.text
    fetched = got.json()
    assert fetched == {k: v for k, v in body.items() if k != "account"}


def test_create_customer_with_inline_account(api: httpx.Client) -> None:
    customer_id, account_id = _uid("cus"), _uid("acc")
    r = api.post(
        "/customers",
        json=_customer_body(
            customer_id, account={"id": account_id, "name": "Inline", "invoiceCurrency": "EUR"}
        ),
    )
    assert r.status_code == 201, r.text
    body = r.json()
    account = body["account"]
    assert account["id"] == account_id
    assert account["customerId"] == customer_id
    assert account["togaiCustomerId"] == body["togaiCustomerId"]
    assert account["invoiceCurrency"] == "EUR"
    assert account["status"] == "ACTIVE"
    assert api.get(f"/accounts/{account_id}").json() == account


def test_duplicate_customer_is_409_and_keeps_the_original(api: httpx.Client) -> None:
    original = _create_customer(api)
    r = api.post("/customers", json={**_customer_body(original["id"]), "name": "Someone Else"})
    assert "already exists" in error_message(r, 409)
    assert api.get(f"/customers/{original['id']}").json()["name"] == original["name"]


def test_customer_whose_inline_account_exists_creates_nothing(api: httpx.Client) -> None:
    existing = _create_account(api, _create_customer(api)["id"])
    customer_id = _uid("cus")
    r = api.post(
        "/customers",
        json=_customer_body(customer_id, account={"id": existing["id"], "name": "Dup"}),
    )
    error_message(r, 409)
    error_message(api.get(f"/customers/{customer_id}"), 404)
    assert api.get(f"/accounts/{existing['id']}").json()["name"] == existing["name"]


def test_unknown_customer_is_404(api: httpx.Client) -> None:
    assert "not found" in error_message(api.get("/customers/nobody"), 404)


def test_list_customers_pages_without_duplicates(api: httpx.Client) -> None:
    created = sorted(_create_customer(api)["id"] for _ in range(5))
    first = api.get("/customers", params={"pageSize": 2})
    assert first.status_code == 200, first.text
    body = first.json()
    assert len(body["data"]) == 2
    assert body["nextToken"]
    assert body["context"]["pageSize"] == 2
    seen = [c["id"] for c in iter_pages(api, "/customers", pageSize=2)]
    assert seen == created  # ascending ids, every customer once
    # Togai's client types pageSize as a number for customers and sends `2.0`.
    assert [c["id"] for c in iter_pages(api, "/customers", pageSize="2.0")] == created
    # Default page size is 50: everything fits on one page.
    everything = api.get("/customers").json()
    assert [c["id"] for c in everything["data"]] == created
    assert "nextToken" not in everything


def test_customer_validation(api: httpx.Client) -> None:
    base = _customer_body(_uid("cus"))
    for bad, field in [
        ({**base, "name": "ab"}, "name"),
        ({**base, "id": "x" * 51}, "id"),
        ({k: v for k, v in base.items() if k != "address"}, "address"),
        ({**base, "nickname": "x"}, "nickname"),
        ({**base, "primaryEmail": 7}, "primaryEmail"),
    ]:
        assert field in error_message(api.post("/customers", json=bad), 400)
    assert api.get("/customers").json()["data"] == []


# --- accounts -----------------------------------------------------------------------------


def test_create_account_answers_201_and_reads_back(api: httpx.Client) -> None:
    customer = _create_customer(api)
    account_id = _uid("acc")
    r = api.post(
        "/accounts",
        json={
            "id": account_id,
            "name": "Main account",
            "customerId": customer["id"],
            "invoiceCurrency": "GBP",
            "aliases": ["alias-one"],
            "primaryEmail": "ops@example.com",
            "netTermDays": 30,
            "metadata": {"plan": "gold"},
            "tags": ["Enterprise", "EU"],
            "address": {"country": "GB"},
            "billingInformation": {"emailRecipients": ["a@example.com"]},
        },
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["id"] == account_id
    assert body["name"] == "Main account"
    assert body["customerId"] == customer["id"]
    assert body["togaiCustomerId"] == customer["togaiCustomerId"]
    assert body["togaiAccountId"].startswith("account.")
    assert body["status"] == "ACTIVE"
    assert body["invoiceCurrency"] == "GBP"
    assert body["aliases"] == [{"alias": "alias-one"}]
    assert body["primaryEmail"] == "ops@example.com"
    assert body["netTermDays"] == 30
    assert body["metadata"] == {"plan": "gold"}
    assert body["tags"] == ["enterprise", "eu"]
    assert body["address"] == {"country": "GB"}
    assert body["billingInformation"] == {"emailRecipients": ["a@example.com"]}

    got = api.get(f"/accounts/{account_id}")
    assert got.status_code == 200
    assert got.json() == body
    # Togai's optional query options are accepted.
    options = {"effectiveOn": "2024-01-01T00:00:00.000000+0000", "includeGroupDetails": "true"}
    assert api.get(f"/accounts/{account_id}", params=options).json() == body


def test_account_currency_defaults_to_usd(api: httpx.Client) -> None:
    account = _create_account(api, _create_customer(api)["id"])
    assert account["invoiceCurrency"] == "USD"
    balance = api.get(f"/accounts/{account['id']}/credit_balance").json()
    assert balance["unit"] == "USD"


def test_duplicate_account_is_409(api: httpx.Client) -> None:
    customer = _create_customer(api)
    account = _create_account(api, customer["id"])
    r = api.post(
        "/accounts", json={"id": account["id"], "name": "Other", "customerId": customer["id"]}
    )
    assert "already exists" in error_message(r, 409)
    assert api.get(f"/accounts/{account['id']}").json()["name"] == "Account"


def test_account_for_unknown_customer_is_404_and_creates_nothing(api: httpx.Client) -> None:
    account_id = _uid("acc")
    r = api.post("/accounts", json={"id": account_id, "name": "Orphan", "customerId": "ghost"})
    assert "ghost" in error_message(r, 404)
    error_message(api.get(f"/accounts/{account_id}"), 404)


def test_unknown_account_is_404(api: httpx.Client) -> None:
    error_message(api.get("/accounts/nobody"), 404)
    error_message(api.patch("/accounts/nobody", json={"name": "New name"}), 404)


def test_list_accounts_pages_without_duplicates(api: httpx.Client) -> None:
    customer = _create_customer(api)
    created = sorted(_create_account(api, customer["id"])["id"] for _ in range(5))
    page = api.get("/accounts", params={"pageSize": 3}).json()
    assert len(page["data"]) == 3 and page["nextToken"]
    assert [a["id"] for a in iter_pages(api, "/accounts", pageSize=3)] == created
    assert [a["id"] for a in iter_pages(api, "/accounts", pageSize=1)] == created


def test_patch_account_changes_only_what_is_given(api: httpx.Client) -> None:
    customer = _create_customer(api)
    account = _create_account(
        api,
        customer["id"],
        metadata={"a": "1", "b": "2"},
        tags=["One"],
        primaryEmail="first@example.com",
    )
    path = f"/accounts/{account['id']}"

    r = api.patch(path, json={"name": "Renamed", "tags": ["MixedCase", "UPPER"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "Renamed"
    assert body["tags"] == ["mixedcase", "upper"]
    assert body["metadata"] == {"a": "1", "b": "2"}
    assert body["primaryEmail"] == "first@example.com"
    assert body["customerId"] == customer["id"]
    assert body["togaiAccountId"] == account["togaiAccountId"]
    assert body["createdAt"] == account["createdAt"]
    assert api.get(path).json() == body

    # metadata replaces the whole map; {} clears it.
    body = api.patch(path, json={"metadata": {"c": "3"}}).json()
    assert body["metadata"] == {"c": "3"}
    assert body["name"] == "Renamed"
    body = api.patch(path, json={"metadata": {}}).json()
    assert body["metadata"] == {}
    assert api.get(path).json()["metadata"] == {}

    body = api.patch(path, json={"status": "DRAFT", "netTermDays": 15}).json()
    assert body["status"] == "DRAFT"
    assert body["netTermDays"] == 15
    assert body["tags"] == ["mixedcase", "upper"]


def test_patch_account_rejects_bad_input_and_changes_nothing(api: httpx.Client) -> None:
    account = _create_account(api, _create_customer(api)["id"], tags=["keep"])
    path = f"/accounts/{account['id']}"
    for bad, field in [
        ({"nickname": "x"}, "nickname"),
        ({"name": "ab"}, "name"),
        ({"invoiceCurrency": "usd"}, "invoiceCurrency"),
        ({"status": "ARCHIVED"}, "status"),
        ({"metadata": {"k": 1}}, "metadata"),
        ({"tags": "not-a-list"}, "tags"),
        ({"netTermDays": 10**20}, "netTermDays"),
        ({"netTermDays": -1}, "netTermDays"),
        ({"netTermDays": 30.0}, "netTermDays"),
    ]:
        assert field in error_message(api.patch(path, json=bad), 400)
    assert api.get(path).json() == account
    assert api.get("/accounts").status_code == 200


def test_huge_net_term_days_never_creates_an_unreadable_account(api: httpx.Client) -> None:
    customer = _create_customer(api)
    account_id = _uid("acc")
    body = {"id": account_id, "name": "Account", "customerId": customer["id"]}
    assert "netTermDays" in error_message(
        api.post("/accounts", json={**body, "netTermDays": 2**63}), 400
    )
    assert api.get(f"/accounts/{account_id}").status_code == 404
    r = api.post("/accounts", json={**body, "netTermDays": 2**31 - 1})
    assert r.status_code == 201, r.text
    assert api.get(f"/accounts/{account_id}").json()["netTermDays"] == 2**31 - 1


def test_currency_is_fixed_once_the_account_holds_credits(api: httpx.Client) -> None:
    account = _create_account(api, _create_customer(api)["id"])
    path = f"/accounts/{account['id']}"
    # Without credits the currency may still be corrected.
    assert api.patch(path, json={"invoiceCurrency": "EUR"}).json()["invoiceCurrency"] == "EUR"
    grant(api, account["id"], 100)
    message = error_message(api.patch(path, json={"invoiceCurrency": "USD"}), 409)
    assert "EUR" in message and "USD" in message
    assert api.get(path).json()["invoiceCurrency"] == "EUR"
    # The same currency, or any other field, still patches.
    assert api.patch(path, json={"invoiceCurrency": "EUR", "name": "Kept"}).status_code == 200
    assert balance(api, account["id"])["unit"] == "EUR"


def test_account_validation(api: httpx.Client) -> None:
    customer = _create_customer(api)
    base = {"id": _uid("acc"), "name": "Account", "customerId": customer["id"]}
    for bad, field in [
        ({k: v for k, v in base.items() if k != "customerId"}, "customerId"),
        ({**base, "id": "x" * 51}, "id"),
        ({**base, "name": "ab"}, "name"),
        ({**base, "invoiceCurrency": "DOLLARS"}, "invoiceCurrency"),
        ({**base, "tags": [1]}, "tags"),
        ({**base, "unknownThing": True}, "unknownThing"),
    ]:
        assert field in error_message(api.post("/accounts", json=bad), 400)
    assert api.get("/accounts").json()["data"] == []


def test_parties_are_private_to_their_organization(server: Server, api: httpx.Client) -> None:
    customer = _create_customer(api)
    account = _create_account(api, customer["id"], metadata={"secret": "yes"})
    with server.client() as other:
        r = other.get(f"/customers/{customer['id']}")
        assert "secret" not in r.text
        error_message(r, 404)
        error_message(other.get(f"/accounts/{account['id']}"), 404)
        error_message(other.patch(f"/accounts/{account['id']}", json={"name": "Stolen"}), 404)
        assert other.get("/customers").json()["data"] == []
        assert other.get("/accounts").json()["data"] == []
        # A tenant cannot hang an account on another tenant's customer.
        r = other.post(
            "/accounts", json={"id": _uid("acc"), "name": "Mine", "customerId": customer["id"]}
        )
        error_message(r, 404)
        # The same ids are free in another organization.
        assert other.post("/customers", json=_customer_body(customer["id"])).status_code == 201
        mine = _create_account(other, customer["id"], id=account["id"])
        assert mine["togaiAccountId"] != account["togaiAccountId"]
    assert api.get(f"/accounts/{account['id']}").json()["metadata"] == {"secret": "yes"}


def test_page_tokens_are_bound_to_org_and_resource(server: Server, api: httpx.Client) -> None:
    customer = _create_customer(api)
    for _ in range(2):
        _create_customer(api)
        _create_account(api, customer["id"])
    token = api.get("/customers", params={"pageSize": 1}).json()["nextToken"]
    # Using a customers token on accounts, or in another organization, is refused.
    error_message(api.get("/accounts", params={"nextToken": token}), 400)
    with server.client() as other:
        error_message(other.get("/customers", params={"nextToken": token}), 400)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    error_message(api.get("/customers", params={"nextToken": forged}), 400)
    for size in ("51", "0", "x", "-1", "2.5"):
        error_message(api.get("/accounts", params={"pageSize": size}), 400)
