"""Purchases in Togai's shapes and the wire details Togai users rely on: float-arithmetic
amounts, events lacking a consumed attribute, a host ending in `/`, batch errors naming the
item, EXPIRED transactions dated at the expiry, and `featureDetails` the client parses. Raw
HTTP and the official `togai_client`, on SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, date, datetime

import httpx
import pytest
from togai_client import AccountsApi, ApiClient, Configuration, CreditsApi
from togai_client.models import (
    CreateCreditRequest,
    CreatePurchaseRequest,
    CreditRequest,
    EventSchema,
    GetPurchaseResponse,
    Purchase,
    PurchasePaginatedListData,
)

from tests.api.test_conformance_credits import frozen_client
from tests.api.test_conformance_entitlements import Entitled
from tests.api.test_entitlements_api import Metered
from tests.helpers import (
    error_message,
    grant,
    new_account,
    new_feature,
    new_plan,
    new_schema,
    ok_json,
    usage_event,
)
from tests.servers import Server


@pytest.fixture
def tg(server: Server) -> Iterator[Entitled]:
    yield from frozen_client(server, Entitled)


def _purchase_plan(api: httpx.Client, m: Metered) -> tuple[str, str]:
    images = new_feature(api, name="Images")
    plan = new_plan(
        api,
        [
            {"featureId": m.feature, "creditsPerCycle": 100},
            {"featureId": images, "creditsPerCycle": 2.5, "validity": "P30D"},
        ],
        "PURCHASE",
    )
    return plan, images


# --- purchases -------------------------------------------------------------------------------


def test_quantity_multiplies_and_every_field_is_stored_and_echoed(
    clock: Server, api: httpx.Client
) -> None:
    clock.set_clock("2026-02-01T12:00:00Z")
    m = Metered(api)
    plan, images = _purchase_plan(api, m)
    account = new_account(api)
    key = "buy-" + secrets.token_hex(4)
    body = {
        "pricePlanId": plan,
        "quantity": 3,
        "rateCardQuantities": {m.feature: 2},
        "idempotencyKey": key,
        "type": "ENTITLEMENT_GRANT",
        "effectiveFrom": "2026-02-01",
        "effectiveUntil": "2026-06-01",
        "expiryDate": "2026-04-01T00:00:00Z",
        "purchasePlanOverride": {"billingEntitlementRateCards": [], "note": 0.30000000000000004},
        "associationOverride": {"supportedCurrencies": ["USD"]},
        "walletTopupDetails": {"topupAmount": 10.5, "purchaseAmount": 9},
    }
    bought = ok_json(api.post(f"/accounts/{account}/purchases", json=body))
    for field, value in body.items():
        if field == "purchasePlanOverride":
            # Free-form, kept as sent but with the rounding every number gets.
            assert bought[field] == {"billingEntitlementRateCards": [], "note": 0.3}
        else:
            assert bought[field] == value, field
    assert bought["status"] == "SUCCESS" and bought["updatedAt"] == bought["createdAt"]
    # 100 x 2 x 3, ending at expiryDate (before effectiveUntil).
    [entry] = m.entries(account)
    assert (entry["granted"], entry["effectiveUntil"]) == (600, "2026-04-01T00:00:00Z")
    assert m.figures(account) == (600, 600, None, 0)

    # The same key with another quantity is another request.
    r = api.post(f"/accounts/{account}/purchases", json={**body, "quantity": 4})
    assert key in error_message(r, 409)
    # The same body, keys in another order: a replay.
    again = api.post(f"/accounts/{account}/purchases", json=dict(reversed(body.items())))
    assert again.status_code == 200 and again.json() == bought
    assert m.figures(account) == (600, 600, None, 0)

    # Without rateCardQuantities: every feature the plan sells, once per unit.
    clock.set_clock("2026-02-01T12:05:00Z")
    second = ok_json(
        api.post(f"/accounts/{account}/purchases", json={"pricePlanId": plan, "quantity": 2})
    )
    assert "rateCardQuantities" not in second and second["quantity"] == 2
    assert m.figures(account) == (800, 800, None, 0)
    r = api.get(f"/accounts/{account}/features/{images}")
    assert r.json()["granted"] == 5

    listed = ok_json(api.get(f"/accounts/{account}/purchases"))
    assert [p["id"] for p in listed["data"]] == [second["id"], bought["id"]]
    page = ok_json(api.get(f"/accounts/{account}/purchases", params={"pageSize": 1}))
    assert [p["id"] for p in page["data"]] == [second["id"]] and page["nextToken"]
    rest = ok_json(
        api.get(f"/accounts/{account}/purchases", params={"nextToken": page["nextToken"]})
    )
    assert [p["id"] for p in rest["data"]] == [bought["id"]]
    detail = ok_json(api.get(f"/purchases/{second['id']}"))
    assert [(f["id"], f["creditsGranted"]) for f in detail["features"]] == [
        (m.feature, 200),
        (images, 5),
    ]


def test_purchase_errors_change_nothing(clock: Server, api: httpx.Client) -> None:
    clock.set_clock("2026-02-01T12:00:00Z")
    m = Metered(api)
    plan, _ = _purchase_plan(api, m)
    account = new_account(api)
    path = f"/accounts/{account}/purchases"
    for fields, needle in [
        ({"quantity": 0}, "quantity"),
        ({"quantity": 1.5}, "quantity"),
        ({"quantity": 2**31}, "quantity"),
        ({"type": "WALLET_TOPUP"}, "WALLET_TOPUP"),
        ({"type": "GIFT"}, "type"),
        ({"expiryDate": "2026-01-01T00:00:00Z"}, "expiryDate"),
        ({"walletTopupDetails": {"purchaseAmount": 1}}, "topupAmount"),
        ({"walletTopupDetails": {"topupAmount": -1}}, "topupAmount"),
        ({"rateCardQuantities": {}}, "rateCardQuantities"),
    ]:
        r = api.post(path, json={"pricePlanId": plan, **fields})
        assert needle in error_message(r, 400), fields
    assert ok_json(api.get(path))["data"] == [] and m.entries(account) == []
    assert "not found" in error_message(api.get("/accounts/nobody-here/purchases"), 404)


def test_purchases_through_the_official_client(tg: Entitled) -> None:
    m = Metered(tg.http)
    plan, images = _purchase_plan(tg.http, m)
    account = tg.new_account()
    accounts = AccountsApi(tg.api_client)
    bought = accounts.initiate_one_time_entitlement_plan(
        account,
        CreatePurchaseRequest(
            price_plan_id=plan,
            quantity=2,
            rate_card_quantities={images: 0.1 + 0.2},
            idempotency_key="k-" + account,
            expiry_date=datetime(2030, 7, 1, tzinfo=UTC),
        ),
    )
    assert isinstance(bought, Purchase)
    assert bought.quantity == 2 and bought.rate_card_quantities == {images: 0.3}
    assert bought.expiry_date == datetime(2030, 7, 1, tzinfo=UTC)
    # 2.5 x 0.3 x 2, from a float sum the client sent with 17 digits.
    credits = tg.entitlements.get_feature_credits(account, images)
    assert credits is not None and credits.granted == 1.5
    page = accounts.list_account_purchases(account)
    assert isinstance(page, PurchasePaginatedListData) and page.data is not None
    assert [p.id for p in page.data] == [bought.id] and page.data[0].quantity == 2
    one = accounts.get_purchase(bought.id)
    assert isinstance(one, GetPurchaseResponse) and one.features is not None
    assert [(f.id, f.credits_granted) for f in one.features] == [(images, 1.5)]


# --- wire details ----------------------------------------------------------------------------


def test_amounts_with_more_than_ten_decimals_round_half_even(
    clock: Server, api: httpx.Client
) -> None:
    clock.set_clock("2026-02-01T12:00:00Z")
    account = new_account(api)
    cases = [
        ("0.30000000000000004", "0.3"),
        ("1.00000000005", "1"),  # half to even: ...0|5 stays 0
        ("1.00000000015", "1.0000000002"),  # ...1|5 goes to 2
        ("2.99999999999", "3"),
    ]
    for sent, stored in cases:
        # Raw text: the number must reach the server with every digit as written.
        item = f'"accountId":"{account}","purpose":"p","effectiveFrom":"2026-02-01","priority":1'
        raw = '{"creditRequests":[{' + item + ',"creditAmount":' + sent + "}]}"
        r = api.post("/credits", content=raw, headers={"content-type": "application/json"})
        assert r.status_code == 200, r.text
        assert f'"creditAmount":{stored},' in r.text or f'"creditAmount":{stored}}}' in r.text
    total = ok_json(api.get(f"/accounts/{account}/credit_balance"))
    assert str(total["availableBalance"]) == "5.3000000002"


def test_event_quantities_round_and_a_missing_attribute_consumes_nothing(
    clock: Server, api: httpx.Client
) -> None:
    clock.set_clock("2026-02-01T12:00:00Z")
    m = Metered(api)
    account = new_account(api)
    ok_json(api.post(f"/accounts/{account}/features/{m.feature}/entries", json={"granted": 1}))
    r = api.post(
        "/entitled",
        json=usage_event(m.schema, account, "2026-02-01T12:00:00Z", tokens="0.30000000000000004"),
    )
    assert r.status_code == 200, r.text
    assert m.figures(account)[1] == 0.7
    # A second feature now meters the same schema, through another attribute.
    schema_features = new_schema(api, ("tokens", "seconds"))
    tokens = new_feature(api, [(schema_features, "tokens")], name="tokens")
    account2 = new_account(api)
    ok_json(api.post(f"/accounts/{account2}/features/{tokens}/entries", json={"granted": 10}))
    seconds = new_feature(api, [(schema_features, "seconds")], name="seconds")
    # Producers that do not send `seconds` yet keep working and consume no seconds.
    r = api.post(
        "/entitled", json=usage_event(schema_features, account2, "2026-02-01T12:00:00Z", tokens="4")
    )
    assert r.status_code == 200, r.text
    assert ok_json(api.get(f"/accounts/{account2}/features/{tokens}"))["balance"] == 6
    assert ok_json(api.get(f"/accounts/{account2}/features/{seconds}"))["balance"] == 0
    # Sent, it must be covered.
    r = api.post(
        "/entitled",
        json=usage_event(
            schema_features, account2, "2026-02-01T12:00:00Z", tokens="1", seconds="1"
        ),
    )
    assert "seconds" in error_message(r, 403) or seconds in r.text
    assert ok_json(api.get(f"/accounts/{account2}/features/{tokens}"))["balance"] == 6


def test_doubled_slashes_route_as_single(server: Server, api: httpx.Client) -> None:
    account = new_account(api)
    grant(api, account, 5)
    for path in (f"//accounts/{account}/credit_balance", f"/accounts//{account}///credit_balance"):
        # An absolute URL: httpx would read a relative `//accounts/…` as a host.
        r = api.get(server.base_url + path)
        assert r.request.url.raw_path.startswith(path.encode()[:10])
        assert r.status_code == 200, (path, r.text)
        assert r.json()["availableBalance"] == 5
    # Togai's documented host ends with `/`: the official client configured with it works
    # (this urllib3 sends `/credits`; other HTTP stacks send `//credits`, covered above).
    client = ApiClient(Configuration(host=server.base_url + "/", access_token=_key(api)))
    try:
        made = CreditsApi(client).create_credit(
            CreateCreditRequest(
                credit_requests=[
                    CreditRequest(
                        account_id=account,
                        purpose="float sum",
                        effective_from=date(2020, 1, 1),
                        priority=1,
                        credit_amount=0.1 + 0.2,
                    )
                ]
            )
        )
        assert made is not None and made.credits[0].credit_amount == 0.3
    finally:
        client.__exit__(None, None, None)


def _key(api: httpx.Client) -> str:
    return str(api.headers["Authorization"]).removeprefix("Bearer ")


def test_batch_errors_name_the_item(clock: Server, api: httpx.Client) -> None:
    clock.set_clock("2026-02-01T12:00:00Z")
    account = new_account(api)

    def item(**fields: object) -> dict[str, object]:
        return {
            "accountId": account,
            "purpose": "p",
            "effectiveFrom": "2026-02-01",
            "priority": 1,
            "creditAmount": 1,
            **fields,
        }

    bad_dates = [item(), item(), item(effectiveUntil="2026-01-01")]
    message = error_message(api.post("/credits", json={"creditRequests": bad_dates}), 400)
    assert message.startswith("creditRequests[2].effectiveUntil"), message
    unknown = [item(), item(accountId="nobody-" + secrets.token_hex(3))]
    message = error_message(api.post("/credits", json={"creditRequests": unknown}), 404)
    assert message.startswith("creditRequests[1].accountId") and "nobody-" in message
    twice = [item(idempotencyKey="k1"), item(idempotencyKey="k1")]
    message = error_message(api.post("/credits", json={"creditRequests": twice}), 400)
    assert message.startswith("creditRequests[1].idempotencyKey"), message
    key = "used-" + secrets.token_hex(3)
    ok_json(api.post("/credits", json={"creditRequests": [item(idempotencyKey=key)]}))
    clash = [item(), item(idempotencyKey=key, creditAmount=2)]
    message = error_message(api.post("/credits", json={"creditRequests": clash}), 409)
    assert message.startswith("creditRequests[1].idempotencyKey"), message
    assert ok_json(api.get(f"/accounts/{account}/credit_balance"))["availableBalance"] == 1


def test_an_expired_transaction_is_dated_when_the_credit_expired(
    clock: Server, api: httpx.Client
) -> None:
    clock.set_clock("2026-02-01T12:00:00Z")
    account = new_account(api)
    credit = grant(api, account, 10, effectiveUntil="2026-02-10")
    # Read long after: the EXPIRED movement is written now, dated at the expiry.
    clock.set_clock("2026-03-05T08:30:00Z")
    details = ok_json(api.get(f"/credits/{credit['id']}"))
    expired = [t for t in details["transactions"] if t["transactionType"] == "EXPIRED"]
    assert [t["createdAt"] for t in expired] == ["2026-02-11T00:00:00Z"]
    # A credit granted already past its end expires when it was granted.
    late = grant(api, account, 3, effectiveFrom="2026-01-01", effectiveUntil="2026-01-31")
    details = ok_json(api.get(f"/credits/{late['id']}"))
    kinds = [(t["transactionType"], t["createdAt"]) for t in details["transactions"]]
    assert kinds == [("CREDITED", "2026-03-05T08:30:00Z"), ("EXPIRED", "2026-03-05T08:30:00Z")]


def test_event_schema_feature_details_parse_in_the_official_client(tg: Entitled) -> None:
    schema = tg.new_schema("tokens", "seconds")
    bare = tg.schemas.get_event_schema(schema)
    assert isinstance(bare, EventSchema) and bare.feature_details is None
    feature = tg.new_feature("Tokens", (schema, "tokens"))
    tg.new_feature("Seconds", (schema, "seconds"))
    got = tg.schemas.get_event_schema(schema)
    assert isinstance(got, EventSchema) and got.feature_details is not None
    raw = tg.http.get(f"/event_schema/{schema}").json()["featureDetails"]
    assert isinstance(raw, dict) and set(raw) == {"featureId", "attributeName"}
    assert got.feature_details.feature_id == raw["featureId"]
    assert (raw["featureId"], raw["attributeName"]) in {
        (feature, "tokens"),
        (raw["featureId"], "seconds"),
    }
    listed = tg.schemas.list_event_schemas()
    assert listed is not None and listed.data is not None
    [mine] = [s for s in listed.data if s.name == schema]
    assert mine.feature_details == got.feature_details
