"""Every operation of `grantledger.client`, sync and async, against a real `grantledger serve`
on SQLite and PostgreSQL.

The scenario is written once as a coroutine; `_v` awaits what the async client returns and
passes the sync client's answers through, so both clients run the very same steps.
"""

from __future__ import annotations

import asyncio
import inspect
import secrets
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

import grantledger.client as gl
from grantledger.client import (
    AccountsApi,
    ApiClient,
    AsyncApiClient,
    Configuration,
    CreditHoldsApi,
    CreditsApi,
    CustomersApi,
    EntitlementPlansApi,
    EntitlementsApi,
    EventIngestionApi,
    EventManagementApi,
    EventSchemasApi,
    FeatureApi,
    FeatureHoldsApi,
)
from grantledger.client.models import (
    Address,
    Attribute,
    CreateAccountRequest,
    CreateCreditHoldRequest,
    CreateCreditRequest,
    CreateCustomerRequest,
    CreateEntitlementPlanRequest,
    CreateEventSchemaRequest,
    CreateFeatureCreditEntryRequest,
    CreateFeatureRequest,
    CreatePurchaseRequest,
    CreditHoldLineRequest,
    CreditRequest,
    DimensionsSchema,
    EntitlementPlanFeature,
    Event,
    EventAttributeSchema,
    EventSchemasForFeature,
    IngestEventRequest,
    UpdateCustomerRequest,
)
from grantledger.client.rest import (
    ApiException,
    BadRequestException,
    ConflictException,
    ForbiddenException,
    NotFoundException,
    UnauthorizedException,
)
from tests.servers import Server


async def _v(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def _all(items: Iterable[Any] | AsyncIterator[Any]) -> list[Any]:
    if isinstance(items, AsyncIterator):
        return [item async for item in items]
    return list(items)


async def _raises(kind: type[ApiException], call: Any) -> ApiException:
    with pytest.raises(kind) as caught:
        await _v(call())
    return caught.value


async def _parties(client: Any, tag: str) -> tuple[str, str]:
    customers, accounts = CustomersApi(client), AccountsApi(client)
    acc, acc2, cus2 = f"acc-{tag}", f"acc2-{tag}", f"cus2-{tag}"
    created = await _v(
        customers.create_customer(
            {
                "id": f"cus-{tag}",
                "name": "Customer One",
                "primaryEmail": "one@example.com",
                "address": {"country": "US"},
                "account": {"id": acc, "name": "Account One"},
            }
        )
    )
    assert isinstance(created, gl.CreateCustomerResponse)
    assert created.id == f"cus-{tag}" and created.account is not None
    assert created.account.id == acc and created.account.invoice_currency == "USD"
    second = CreateCustomerRequest(
        id=cus2, name="Customer Two", primary_email="two@example.com", address=Address(city="Oslo")
    )
    await _v(customers.create_customer(create_customer_request=second))
    got = await _v(customers.get_customer(cus2))
    assert isinstance(got, gl.Customer) and got.primary_email == "two@example.com"
    assert got.address is not None and got.address.city == "Oslo"
    page = await _v(customers.get_customers(page_size=1))
    assert len(page.data) == 1 and page.next_token
    listed = await _all(customers.iter_customers(page_size=1))
    assert sorted(c.id for c in listed) == sorted([f"cus-{tag}", cus2])
    duplicate = await _raises(ConflictException, lambda: customers.create_customer(second))
    assert duplicate.status == 409 and duplicate.data is not None and cus2 in duplicate.body

    account = await _v(
        accounts.create_account(
            CreateAccountRequest(id=acc2, name="Account Two", customer_id=cus2, tags=["Beta"])
        )
    )
    assert isinstance(account, gl.Account) and account.customer_id == cus2
    assert (await _v(accounts.get_account(acc2))).tags == ["beta"]
    page = await _v(accounts.get_accounts(page_size=1))
    assert len(page.data) == 1 and page.next_token
    assert sorted(a.id for a in await _all(accounts.iter_accounts(page_size=1))) == [acc, acc2]
    renamed = await _v(accounts.update_account(acc2, {"name": "Renamed"}))
    assert renamed.name == "Renamed" and renamed.id == acc2
    missing = await _raises(NotFoundException, lambda: accounts.get_account("no-such-account"))
    assert missing.status == 404 and missing.reason == "Not Found"
    assert missing.data is not None and "no-such-account" in missing.data.message
    return acc, acc2


async def _catalog(client: Any, tag: str) -> tuple[str, str, str, str]:
    """Two schemas, a metered and an enum feature, a BILLING and a PURCHASE plan."""
    schemas, features, plans = (
        EventSchemasApi(client),
        FeatureApi(client),
        EntitlementPlansApi(client),
    )
    schema, other = f"usage_{tag}", f"other_{tag}"
    made = await _v(
        schemas.create_event_schema(
            CreateEventSchemaRequest(
                name=schema,
                attributes=[EventAttributeSchema(name="tokens")],
                dimensions=[DimensionsSchema(name="region")],
            )
        )
    )
    assert isinstance(made, gl.EventSchema) and made.status == "ACTIVE" and made.version == 1
    await _v(schemas.create_event_schema({"name": other, "attributes": [], "dimensions": []}))
    assert (await _v(schemas.get_event_schema(schema))).attributes[0].name == "tokens"
    assert (await _v(schemas.list_event_schemas(page_size=1))).next_token
    names = [s.name for s in await _all(schemas.iter_event_schemas(page_size=1))]
    assert sorted(names) == sorted([schema, other])
    assert (await _v(schemas.deactivate_event_schema(other))).status == "INACTIVE"
    inactive = await _v(schemas.list_event_schemas(status="INACTIVE"))
    assert [s.name for s in inactive.data] == [other]
    assert (await _v(schemas.activate_event_schema(other))).status == "ACTIVE"

    tokens = await _v(
        features.create_feature(
            CreateFeatureRequest(
                id=f"tokens-{tag}",
                name="AI tokens",
                schema_associations=[
                    EventSchemasForFeature(schema_name=schema, attribute_name="tokens")
                ],
            )
        )
    )
    assert isinstance(tokens, gl.Feature) and tokens.id == f"tokens-{tag}"
    tier = await _v(
        features.create_feature(
            {"name": "Tier", "valueType": "ENUM", "allowedValues": ["basic", "gold"]}
        )
    )
    assert (await _v(features.get_feature(tier.id))).allowed_values == ["basic", "gold"]
    assert (await _v(features.get_features(page_size=1))).next_token
    ids = sorted(f.id for f in await _all(features.iter_features(page_size=1)))
    assert ids == sorted([tokens.id, tier.id])
    updated = await _v(features.update_feature(tier.id, {"billableName": "Support tier"}))
    assert updated.billable_name == "Support tier" and updated.display_name == "Support tier"

    pro = await _v(
        plans.create_entitlement_plan(
            CreateEntitlementPlanRequest(
                name="Pro",
                type="BILLING",
                cycle="MONTHLY",
                features=[
                    EntitlementPlanFeature(
                        feature_id=tokens.id, credits_per_cycle=Decimal("100.5")
                    ),
                    EntitlementPlanFeature(feature_id=tier.id, value="basic"),
                ],
            )
        )
    )
    assert isinstance(pro, gl.EntitlementPlan)
    assert pro.features[0].credits_per_cycle == Decimal("100.5")
    pack = await _v(
        plans.create_entitlement_plan(
            {
                "name": "Token pack",
                "type": "PURCHASE",
                "features": [{"featureId": tokens.id, "creditsPerCycle": "10"}],
            }
        )
    )
    assert (await _v(plans.get_entitlement_plan(pack.id))).type == "PURCHASE"
    assert (await _v(plans.list_entitlement_plans(page_size=1))).next_token
    listed = sorted(p.id for p in await _all(plans.iter_entitlement_plans(page_size=1)))
    assert listed == sorted([pro.id, pack.id])
    return schema, tokens.id, tier.id, pro.id + " " + pack.id


async def _entitlements(client: Any, tag: str, acc: str, catalog: tuple[str, ...]) -> None:
    schema, tokens, tier, plan_ids = catalog
    pro, pack = plan_ids.split()
    plans, ent = EntitlementPlansApi(client), EntitlementsApi(client)
    this_month = datetime.now(UTC).date().replace(day=1)

    schedule = await _v(
        plans.create_plan_schedule(acc, {"planId": pro, "effectiveFrom": this_month})
    )
    assert isinstance(schedule, gl.PlanSchedule) and schedule.plan_id == pro
    assert [s.id for s in (await _v(plans.list_plan_schedules(acc))).data] == [schedule.id]
    request = CreatePurchaseRequest(
        price_plan_id=pack, rate_card_quantities={tokens: Decimal(2)}, idempotency_key=f"k-{tag}"
    )
    bought = await _v(plans.create_purchase(acc, request))
    assert isinstance(bought, gl.Purchase) and bought.status == "SUCCESS"
    assert bought.rate_card_quantities == {tokens: Decimal(2)}
    detail = await _v(plans.get_purchase(bought.id))
    assert detail.id == bought.id and detail.features[0].id == tokens
    page = await _v(plans.list_account_purchases(acc))
    assert isinstance(page, gl.PurchasePaginatedResponse) and page.data[0].id == bought.id
    assert [p.id for p in await _all(plans.iter_account_purchases(acc, page_size=1))] == [bought.id]

    values = await _v(ent.get_entitlements(acc))
    assert isinstance(values, gl.GetEntitlementValuesResponse)
    assert values.value_of(tier) == "basic" and values.value_of(tokens) == "true"
    assert (await _v(ent.get_entitlement_value(acc, tier))).data[0].value == "basic"
    check = await _v(ent.validate_entitlement_value(acc, tier, {"value": "basic"}))
    assert isinstance(check, gl.BaseSuccessResponse) and check.success is True
    no = await _v(
        ent.validate_entitlement_value(
            acc, tier, validate_entitlement_value_request={"value": "gold"}
        )
    )
    assert no.success is False
    assert (await _v(ent.set_entitlement_value(acc, tier, {"value": "gold"}))).value_of(
        tier
    ) == "gold"

    credits = await _v(ent.get_feature_credits(acc, tokens))
    assert isinstance(credits, gl.GetFeatureCreditsResponse)
    assert credits.granted == Decimal("120.5") and credits.balance == Decimal("120.5")
    refund = await _v(
        ent.create_feature_credit_entry(
            acc,
            tokens,
            CreateFeatureCreditEntryRequest(
                granted=Decimal("0.25"), source="REFUND", idempotency_key=f"r-{tag}"
            ),
        )
    )
    assert isinstance(refund, gl.FeatureCreditEntry) and refund.granted == Decimal("0.25")
    page = await _v(ent.list_feature_credit_entries(acc, tokens, page_size=2))
    assert len(page.data) == 2 and page.next_token
    rest = await _v(ent.list_feature_credit_entries(acc, tokens, next_token=page.next_token))
    entries = await _all(ent.iter_feature_credit_entries(acc, tokens, page_size=1))
    assert len(entries) == 3  # this month's plan cycle, the purchase, the refund
    assert [e.id for e in entries] == [e.id for e in page.data + rest.data]
    purchased = next(e for e in entries if e.id.endswith("$PURCHASE"))
    assert "#" in purchased.id and purchased.granted == Decimal(20)

    now = datetime.now(UTC)
    event = Event(
        schema_name=schema,
        account_id=acc,
        timestamp=now,
        id=f"ev-{tag}",
        attributes=[Attribute(name="tokens", value=Decimal("1.5"))],
        dimensions={"region": "eu"},
    )
    ok = await _v(ent.ingest_entitled_event(ingest_event_request=IngestEventRequest(event=event)))
    assert ok.success is True
    await _raises(
        ConflictException, lambda: ent.ingest_entitled_event(IngestEventRequest(event=event))
    )
    greedy = event.model_copy(
        update={"id": f"ev2-{tag}", "attributes": [Attribute(name="tokens", value="100000")]}
    )
    refused = await _raises(
        ForbiddenException, lambda: ent.ingest_entitled_event({"event": greedy})
    )
    assert refused.status == 403 and refused.data is not None and refused.data.message
    after = await _v(ent.get_feature_credits(acc, tokens))
    assert after.balance == Decimal("119.25")

    # The entry id holds `#` and `$`: they must reach the server percent-encoded.
    patched = await _v(ent.update_feature_credit_entry(acc, tokens, purchased.id, {"granted": 30}))
    assert patched.id == purchased.id and patched.granted == Decimal(30)
    voided = await _v(ent.void_feature_credit_entry(acc, tokens, refund.id))
    assert voided.success is True
    statuses = {e.id: e.status for e in await _all(ent.iter_feature_credit_entries(acc, tokens))}
    assert statuses[refund.id] == "VOIDED" and statuses[purchased.id] == "ACTIVE"


async def _events(client: Any, tag: str, acc: str, catalog: tuple[str, ...]) -> None:
    """Usage recorded after the fact, listed page after page, read, undone and re-judged."""
    schema, tokens = catalog[0], catalog[1]
    ingestion, events, ent = (
        EventIngestionApi(client),
        EventManagementApi(client),
        EntitlementsApi(client),
    )
    before = (await _v(ent.get_feature_credits(acc, tokens))).balance

    def usage(event_id: str, amount: str, schema_name: str = schema) -> Event:
        return Event(
            schema_name=schema_name,
            account_id=acc,
            timestamp=datetime.now(UTC),
            id=event_id,
            attributes=[Attribute(name="tokens", value=amount)],
        )

    one = usage(f"in-{tag}", "2")
    recorded = await _v(ingestion.ingest(IngestEventRequest(event=one)))
    assert isinstance(recorded, gl.IngestEventResponse) and recorded.status_code == 202
    assert recorded.details is not None and "repeat" not in recorded.details
    reference = recorded.details["referenceId"]
    again = await _v(ingestion.ingest(ingest_event_request={"event": one}))
    assert again.details is not None and again.details["repeat"] is True
    batch = await _v(
        ingestion.ingest_batch(
            gl.IngestBatchEventRequest(
                events=[usage(f"b1-{tag}", "1"), usage(f"b2-{tag}", "1", f"nope_{tag}")]
            )
        )
    )
    assert batch.success is False and batch.status_code == 207 and batch.details is not None
    assert batch.details["recorded"] == 1 and batch.details["failures"][0]["index"] == 1
    redone_ref = batch.details["referenceIds"][0]
    assert (await _v(ent.get_feature_credits(acc, tokens))).balance == before - 3

    page = await _v(events.get_events(account_id=acc, page_size=2))
    assert isinstance(page, gl.GetEventsResponse) and len(page.events) == 2 and page.next_token
    assert page.events[0].reference_id == redone_ref  # newest first
    listed = await _all(events.iter_events(account_id=acc, page_size=2))
    # the gate's accepted and refused events, the ingested one, the batch's recorded one
    assert len(listed) == 4 and [e.reference_id for e in listed[:2]] == [
        e.reference_id for e in page.events
    ]
    assert {e.source.id for e in listed if e.source} == {"ENTITLED", "INGEST"}
    refused = await _all(
        events.iter_events(account_id=acc, status="INGESTION_FAILED_INSUFFICIENT_CREDITS")
    )
    assert [e.event_payload.id for e in refused] == [f"ev2-{tag}"]
    nothing = await _v(events.get_events(account_id=f"nobody-{tag}"))
    assert nothing.events == [] and nothing.next_token is None  # the server's 204
    assert await _all(events.iter_events(schema_name=f"nope_{tag}")) == []

    got = await _v(events.get_single_event(reference))
    assert isinstance(got, gl.GetEventResponse) and got.event.reference_id == reference
    drawn = got.event
    assert drawn.ingestion_status.status == "INGESTION_COMPLETED_EVENT_METERED"
    assert drawn.drawn() == {tokens: Decimal(2)} and not drawn.reverted
    assert drawn.event_payload.id == f"in-{tag}" and drawn.event_pipeline_info is not None
    await _raises(NotFoundException, lambda: events.get_single_event(f"evt.none-{tag}"))

    undo = await _v(
        events.event_correction(
            "UNDO", event_correction_request=gl.EventCorrectionRequest(event=one)
        )
    )
    assert isinstance(undo, gl.EventsCorrectionResponse) and undo.status == "REVERTED"
    assert undo.replacement is None and undo.data[0].reverted
    assert all(d.reversed for d in undo.data[0].draws)
    assert (await _v(ent.get_feature_credits(acc, tokens))).balance == before - 1
    twice = await _v(events.event_correction("UNDO", True, {"event": one}))
    assert twice.status == "FAILED" and "already reverted" in twice.reason
    fixed = usage(f"b1-{tag}", "4").model_copy(
        update={"timestamp": listed[0].event_payload.timestamp}
    )
    redo = await _v(
        events.event_correction("REDO_EVENT", event_correction_request={"event": fixed})
    )
    assert redo.status == "REVERTED_AND_REINGESTED" and redo.replacement is not None
    assert redo.data[0].reference_id == redone_ref and redo.data[0].replaced_by == (
        redo.replacement.reference_id
    )
    assert (await _v(ent.get_feature_credits(acc, tokens))).balance == before - 4
    reverted = await _all(events.iter_events(account_id=acc, status="REVERTED"))
    assert sorted(e.reference_id for e in reverted) == sorted([reference, redone_ref])
    bad = await _raises(
        BadRequestException, lambda: events.event_correction("REDO", event_correction_request={})
    )
    assert bad.data is not None and "event is required" in bad.data.message


async def _credits(client: Any, tag: str, acc: str) -> None:
    api, holds = CreditsApi(client), CreditHoldsApi(client)
    first = await _v(
        api.create_credit(
            create_credit_request=CreateCreditRequest(
                credit_requests=[
                    CreditRequest(
                        account_id=acc,
                        purpose="Prepaid",
                        effective_from=date(2020, 1, 1),
                        priority=1,
                        credit_amount=Decimal("10.10"),
                        idempotency_key=f"c-{tag}",
                    )
                ]
            )
        )
    )
    assert isinstance(first, gl.CreateCreditResponse)
    [c1] = first.credits
    assert c1.credit_amount == Decimal("10.1") and isinstance(c1.credit_amount, Decimal)
    second = await _v(
        api.create_credit(
            {
                "creditRequests": [
                    {
                        "accountId": acc,
                        "purpose": "Promo",
                        "effectiveFrom": "2020-01-01",
                        "priority": 2,
                        "creditAmount": "5",
                    }
                ]
            }
        )
    )
    [c2] = second.credits
    balance = await _v(api.credit_balance_for_account(acc))
    assert isinstance(balance, gl.CreditBalanceResponse)
    assert balance.available_balance == Decimal("15.1") and balance.unit == "USD"
    before = await _v(api.credit_balance_for_account(acc, as_of=datetime(2020, 1, 1, tzinfo=UTC)))
    assert before.available_balance == 0
    details = await _v(api.get_credit_details(c1.id))
    assert isinstance(details, gl.CreditDetailsResponse)
    assert [t.transaction_type for t in details.transactions] == ["CREDITED"]
    page = await _v(api.list_credits(account_id=acc, page_size=1))
    assert isinstance(page, gl.ListCreditsResponse) and len(page.data) == 1 and page.next_token
    assert (await _v(api.list_credits(id=c2.id, status="ACTIVE"))).data[0].id == c2.id
    assert sorted(
        c.id for c in await _all(api.iter_credits(account_id=acc, page_size=1))
    ) == sorted([c1.id, c2.id])
    assert (await _v(api.void_credit(c2.id))).status == "VOIDED"
    await _raises(BadRequestException, lambda: api.create_credit(CreateCreditRequest()))
    await _raises(NotFoundException, lambda: api.get_credit_details("cred.none"))

    hold = await _v(
        holds.create_credit_hold(
            acc,
            CreateCreditHoldRequest(
                invoice_id=f"inv1-{tag}",
                lines=[CreditHoldLineRequest(entity_id="line-1", amount=Decimal("4"))],
            ),
        )
    )
    assert isinstance(hold, gl.CreditHold) and hold.status == "HELD"
    assert hold.covered_amount == Decimal(4)
    assert (await _v(holds.get_credit_hold(acc, f"inv1-{tag}"))).id == hold.id
    assert (await _v(holds.capture_credit_hold(acc, f"inv1-{tag}"))).status == "CAPTURED"
    line = {"entityId": "line-2", "amount": "1.05"}
    await _v(holds.create_credit_hold(acc, {"invoiceId": f"inv2-{tag}", "lines": [line]}))
    assert (await _v(holds.release_credit_hold(acc, f"inv2-{tag}"))).status == "RELEASED"
    debit = await _v(holds.create_credit_debit(acc, {"invoiceId": f"inv3-{tag}", "lines": [line]}))
    assert debit.status == "CAPTURED" and debit.covered_amount == Decimal("1.05")
    assert (await _v(holds.list_credit_holds(acc, page_size=2))).next_token
    invoices = sorted(h.invoice_id for h in await _all(holds.iter_credit_holds(acc, page_size=1)))
    assert invoices == sorted(f"inv{n}-{tag}" for n in (1, 2, 3))
    final = await _v(api.credit_balance_for_account(acc))
    assert final.available_balance == Decimal("5.05")


async def _removals(client: Any, tag: str, acc: str) -> None:
    """Changes to a customer, and deletions: refused while something hangs on what they
    would delete."""
    customers, accounts, schemas = (
        CustomersApi(client),
        AccountsApi(client),
        EventSchemasApi(client),
    )
    customer = (await _v(accounts.get_account(acc))).customer_id
    renamed = await _v(
        customers.update_customer(customer, UpdateCustomerRequest(name="Customer Renamed"))
    )
    assert isinstance(renamed, gl.Customer) and renamed.name == "Customer Renamed"
    moved = await _v(customers.update_customer(customer, {"address": {"city": "Bergen"}}))
    assert moved.address is not None and moved.address.city == "Bergen"
    assert moved.name == "Customer Renamed"
    held = await _raises(ConflictException, lambda: accounts.delete_account(acc))
    assert held.status == 409 and held.data is not None and "credits" in held.data.message
    owner = await _raises(ConflictException, lambda: customers.delete_customer(customer))
    assert owner.data is not None and acc in owner.data.message
    consumed = await _raises(ConflictException, lambda: schemas.delete_event_schema(f"usage_{tag}"))
    assert consumed.data is not None and f"tokens-{tag}" in consumed.data.message
    spare = {
        "id": f"spare-{tag}",
        "name": "Spare customer",
        "primaryEmail": "spare@example.com",
        "address": {},
        "account": {"id": f"spare-acc-{tag}", "name": "Spare account"},
    }
    await _v(customers.create_customer(spare))
    gone = await _v(accounts.delete_account(f"spare-acc-{tag}"))
    assert isinstance(gone, gl.BaseSuccessResponse) and gone.success is True
    assert (await _v(customers.delete_customer(f"spare-{tag}"))).success is True
    await _raises(NotFoundException, lambda: customers.get_customer(f"spare-{tag}"))
    await _v(
        schemas.create_event_schema({"name": f"spare_{tag}", "attributes": [], "dimensions": []})
    )
    assert (await _v(schemas.delete_event_schema(f"spare_{tag}"))).success is True
    await _raises(NotFoundException, lambda: schemas.delete_event_schema(f"spare_{tag}"))


async def _feature_holds(client: Any, tag: str, acc: str, catalog: tuple[str, ...]) -> None:
    tokens = catalog[1]
    holds, ent = FeatureHoldsApi(client), EntitlementsApi(client)
    before = (await _v(ent.get_feature_credits(acc, tokens))).balance
    one = {"features": [{"featureId": tokens, "units": 1}], "expiresIn": "PT5M"}
    held = await _v(holds.create_feature_hold(acc, {"id": f"fh1-{tag}", **one}))
    assert isinstance(held, gl.FeatureHold) and held.status == "HELD"
    await _v(holds.create_feature_hold(acc, {"id": f"fh2-{tag}", **one}))
    assert (await _v(ent.get_feature_credits(acc, tokens))).balance == before - 2
    used = {"features": [{"featureId": tokens, "units": "0.5"}]}
    settled = await _v(holds.settle_feature_hold(acc, f"fh1-{tag}", used))
    assert settled.status == "SETTLED" and settled.features[0].settled_units == Decimal("0.5")
    released = await _v(holds.release_feature_hold(acc, f"fh2-{tag}"))
    assert released.status == "RELEASED"
    assert (await _v(holds.get_feature_hold(acc, f"fh2-{tag}"))).status == "RELEASED"
    page = await _v(holds.list_feature_holds(acc, status="SETTLED"))
    assert [h.id for h in page.data] == [f"fh1-{tag}"]
    assert len(await _all(holds.iter_feature_holds(acc, page_size=1))) == 2
    reservation = holds.reserve(acc, {tokens: 3})
    if isinstance(client, AsyncApiClient):
        async with reservation as r:
            await r.settle({tokens: 2})
    else:
        with reservation as r:
            r.settle({tokens: 2})
    assert (await _v(ent.get_feature_credits(acc, tokens))).balance == before - Decimal("2.5")


async def _scenario(client: Any) -> None:
    tag = secrets.token_hex(3)
    acc, _ = await _parties(client, tag)
    catalog = await _catalog(client, tag)
    await _entitlements(client, tag, acc, catalog)
    await _events(client, tag, acc, catalog)
    await _feature_holds(client, tag, acc, catalog)
    await _credits(client, tag, acc)
    await _removals(client, tag, acc)


async def _run(config: Configuration, mode: str) -> None:
    if mode == "async":
        async with AsyncApiClient(config) as client:
            await _scenario(client)
    else:
        with ApiClient(config) as client:
            await _scenario(client)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_every_operation(server: Server, mode: str) -> None:
    asyncio.run(_run(Configuration(host=server.base_url, access_token=server.key()), mode))


def test_unknown_key_is_unauthorized(server: Server) -> None:
    config = Configuration(host=server.base_url, access_token="not-a-key")
    with ApiClient(config) as client, pytest.raises(UnauthorizedException) as caught:
        CreditsApi(client).list_credits()
    assert caught.value.status == 401 and caught.value.data is not None


def test_requests_carry_the_version_and_the_key(server: Server) -> None:
    """The server sees `User-Agent: grantledger-python/<version>` and the bearer key."""
    seen: list[httpx.Request] = []
    config = Configuration(host=server.base_url, access_token=server.key())
    with ApiClient(config) as client:
        client.http_client.event_hooks["request"].append(seen.append)
        CreditsApi(client).list_credits(page_size=1)
    [request] = seen
    assert request.headers["user-agent"] == f"grantledger-python/{gl.__version__}"
    assert request.headers["authorization"] == f"Bearer {config.access_token}"
    assert request.url.params["pageSize"] == "1"


def test_the_scenario_calls_every_method_of_every_api_class() -> None:
    """A method added to an API class without being exercised above fails here."""
    source = Path(__file__).read_text()
    methods = {
        f"{name}.{attr}"
        for name in gl.api.__all__
        for attr in vars(getattr(gl.api, name))
        if not attr.startswith("_")
    }
    assert len(methods) > 40
    unused = sorted(m for m in methods if f".{m.split('.')[1]}(" not in source)
    assert unused == []
