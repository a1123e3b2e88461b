"""Togai's official Python client (`togai_client`) against grantledger's entitlements side.

The eight `EntitlementsApi` operations, `FeatureApi` and `EventSchemasApi` must answer with
models the client parses (never `None`, never a pydantic ValidationError), and errors must
arrive as the client's exceptions carrying `{"message": ...}`. Plans, schedules, purchases and
direct grants are grantledger extensions, so they are set up with plain HTTP.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
from togai_client import EntitlementsApi, EventSchemasApi, FeatureApi
from togai_client.exceptions import (
    ApiException,
    BadRequestException,
    ForbiddenException,
    NotFoundException,
    UnauthorizedException,
)
from togai_client.models import (
    Attribute,
    BaseSuccessResponse,
    CreateEventSchemaRequest,
    CreateFeatureRequest,
    CreatePurchaseRequest,
    DimensionsSchema,
    ErrorResponse,
    Event,
    EventAttributeSchema,
    EventSchema,
    EventSchemaListPaginatedResponse,
    EventSchemasForFeature,
    Feature,
    FeatureCreditEntry,
    FeaturePaginatedListData,
    GetEntitlementValuesResponse,
    GetEntitlementValuesResponseDataInner,
    GetFeatureCreditEntriesPaginatedResponse,
    GetFeatureCreditsResponse,
    GetPurchaseResponse,
    IngestEventRequest,
    Purchase,
    UpdateFeatureCreditsRequest,
    UpdateFeatureRequest,
    ValidateEntitlementValueRequest,
)

from tests.api.test_conformance_credits import NOW, Togai, frozen_client
from tests.helpers import ok_json
from tests.servers import Server

# The server clock (NOW) is 2030-06-15T12:00:00Z.
NOW_AT = datetime(2030, 6, 15, 12, tzinfo=UTC)
OPEN_END = datetime(9999, 12, 31, tzinfo=UTC)


class Entitled(Togai):
    """The credits-side client plus the entitlement, feature and event schema APIs."""

    def __init__(self, server: Server, key: str | None) -> None:
        super().__init__(server, key)
        self.entitlements = EntitlementsApi(self.api_client)
        self.features = FeatureApi(self.api_client)
        self.schemas = EventSchemasApi(self.api_client)

    def post(self, path: str, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
        return ok_json(self.http.post(path, json=body), status)

    def new_schema(self, *attributes: str) -> str:
        name = "api calls " + secrets.token_hex(3)
        created = self.schemas.create_event_schema(
            CreateEventSchemaRequest(
                name=name,
                attributes=[EventAttributeSchema(name=a) for a in attributes],
                dimensions=[DimensionsSchema(name="region")],
            )
        )
        assert isinstance(created, EventSchema)
        return name

    def new_feature(self, name: str, *links: tuple[str, str]) -> str:
        feature = self.features.create_feature(
            CreateFeatureRequest(
                name=name,
                schema_associations=[
                    EventSchemasForFeature(schema_name=s, attribute_name=a) for s, a in links
                ],
            )
        )
        assert isinstance(feature, Feature)
        return feature.id

    def event(
        self,
        account_id: str,
        schema: str,
        event_id: str | None = None,
        at: datetime | None = None,
        **attrs: str,
    ) -> Any:
        return self.entitlements.ingest_entitled_event(
            IngestEventRequest(
                event=Event(
                    schema_name=schema,
                    id=event_id or "evt-" + secrets.token_hex(6),
                    # Naive by default: the client then sends no offset and the server reads UTC.
                    timestamp=at or datetime(2030, 6, 15, 12, 0),
                    account_id=account_id,
                    attributes=[Attribute(name=n, value=v) for n, v in attrs.items()],
                    dimensions={"region": "eu-west-1"},
                )
            )
        )


@pytest.fixture
def tg(server: Server) -> Iterator[Entitled]:
    yield from frozen_client(server, Entitled)


def fails(
    exc_type: type[ApiException],
    call: Callable[[], object],
    status: int,
    *,
    declared: bool = True,
) -> str:
    """Run a call that must raise `exc_type` with `status` and an ErrorResponse body.

    The client fills `.data` only for the codes an operation declares (`declared`); the three
    entitlement value operations declare none, so the body itself is always parsed too.
    """
    with pytest.raises(exc_type) as info:
        call()
    exc = info.value
    assert type(exc) is exc_type, f"{type(exc).__name__}: {exc}"
    assert exc.status == status, exc.body
    assert exc.headers is not None
    assert exc.headers.get("content-type", "").startswith("application/json")
    assert exc.body, "error without a body"
    parsed = ErrorResponse.from_json(exc.body)
    assert parsed is not None and parsed.message and len(parsed.message) <= 500
    if declared:
        assert isinstance(exc.data, ErrorResponse), f"body did not parse in the client: {exc.body}"
        assert exc.data.message == parsed.message
    else:
        assert exc.data is None
    return parsed.message


@dataclass
class World:
    """An account on a BILLING plan since April, with a purchase and a REFUND grant."""

    account: str
    schema: str
    tokens: str  # metered feature (events of `schema`, attribute `tokens`)
    seats: str  # BOOLEAN feature valued by the plan
    tier: str  # ENUM feature valued on the account
    schedule: str
    purchase: str
    refund: str

    def entry(self, cycle_start: str, source: str) -> str:
        return f"{self.schedule}#{cycle_start}${source}"


def build_world(tg: Entitled) -> World:
    account = tg.new_account()
    schema = tg.new_schema("tokens", "seconds")
    tokens = tg.new_feature("AI tokens", (schema, "tokens"))
    seats = tg.new_feature("Seats")
    tier = "support-tier-" + secrets.token_hex(3)
    tg.post(
        "/features",
        {
            "id": tier,
            "name": "Support tier",
            "schemaAssociations": [],
            "valueType": "ENUM",
            "allowedValues": ["silver", "gold"],
        },
    )
    billing = tg.post(
        "/entitlement_plans",
        {
            "name": "Pro",
            "type": "BILLING",
            "cycle": "MONTHLY",
            "features": [
                {"featureId": tokens, "creditsPerCycle": 100, "overagePerCycle": 20},
                {"featureId": seats, "value": "true"},
            ],
        },
    )
    schedule = tg.post(
        f"/accounts/{account}/plans", {"planId": billing["id"], "effectiveFrom": "2030-04-01"}
    )
    topup = tg.post(
        "/entitlement_plans",
        {
            "name": "Token pack",
            "type": "PURCHASE",
            "features": [{"featureId": tokens, "creditsPerCycle": 10, "validity": "P1M"}],
        },
    )
    bought = tg.post(
        f"/accounts/{account}/purchases",
        {"pricePlanId": topup["id"], "rateCardQuantities": {tokens: 2.5}},
    )
    refund = tg.post(
        f"/accounts/{account}/features/{tokens}/entries", {"granted": 0.5, "source": "REFUND"}
    )
    r = tg.http.put(f"/accounts/{account}/entitlements/{tier}", json={"value": "gold"})
    assert r.status_code == 200, r.text
    return World(
        account=account,
        schema=schema,
        tokens=tokens,
        seats=seats,
        tier=tier,
        schedule=schedule["id"],
        purchase=bought["id"] + "#1$PURCHASE",
        refund=refund["id"],
    )


def all_entries(tg: Entitled, account: str, feature: str, size: int) -> list[FeatureCreditEntry]:
    entries: list[FeatureCreditEntry] = []
    token: str | None = None
    for _ in range(20):
        page = tg.entitlements.list_feature_credit_entries(
            account, feature, page_size=size, next_token=token
        )
        assert isinstance(page, GetFeatureCreditEntriesPaginatedResponse)
        assert page.data is not None and len(page.data) <= size
        entries.extend(page.data)
        token = page.next_token
        if token is None:
            return entries
    raise AssertionError("paging did not end")


# --- event schemas and features ----------------------------------------------------------------


def test_event_schemas_create_get_list(tg: Entitled) -> None:
    # Names may hold spaces: the client sends them as %20 in the path.
    names = sorted(f"schema_{i} {secrets.token_hex(3)}" for i in range(3))
    for name in names:
        created = tg.schemas.create_event_schema(
            CreateEventSchemaRequest(
                name=name,
                description="API calls",
                attributes=[
                    EventAttributeSchema(name="tokens", default_unit="None"),
                    EventAttributeSchema(name="seconds"),
                ],
                dimensions=[DimensionsSchema(name="region"), DimensionsSchema(name="model")],
                filter_fields=["region"],
                event_id_template="{{accountId}}-{{id}}",
            )
        )
        assert isinstance(created, EventSchema)
        assert created.name == name
        assert created.version == 1
        assert created.status == "ACTIVE"
        assert [(a.name, a.default_unit) for a in created.attributes or []] == [
            ("tokens", "None"),
            ("seconds", None),
        ]
        assert [d.name for d in created.dimensions or []] == ["region", "model"]
        assert created.filter_fields == ["region"]
        assert created.event_id_template == "{{accountId}}-{{id}}"
        assert created.created_at == NOW_AT

    got = tg.schemas.get_event_schema(names[1])
    assert isinstance(got, EventSchema)
    assert got.name == names[1] and got.description == "API calls"
    assert tg.schemas.get_event_schema(names[1], version=1) == got

    # pageSize is a number in this API: the client sends `2.0` for a float.
    seen: list[str] = []
    token: str | None = None
    for _ in range(5):
        page = tg.schemas.list_event_schemas(next_token=token, page_size=2.0)
        assert isinstance(page, EventSchemaListPaginatedResponse)
        assert page.data is not None and len(page.data) <= 2
        seen.extend(s.name for s in page.data)
        token = page.next_token
        if token is None:
            break
    assert sorted(seen) == names

    off = tg.schemas.deactivate_event_schema(names[0])
    assert isinstance(off, EventSchema) and off.status == "INACTIVE"
    inactive = tg.schemas.list_event_schemas(status="INACTIVE")
    assert inactive is not None and [s.name for s in inactive.data or []] == [names[0]]
    on = tg.schemas.activate_event_schema(names[0])
    assert isinstance(on, EventSchema) and on.status == "ACTIVE"

    dup = fails(
        ApiException,
        lambda: tg.schemas.create_event_schema(
            CreateEventSchemaRequest(name=names[0], attributes=[], dimensions=[])
        ),
        409,
        declared=False,
    )
    assert names[0] in dup
    fails(NotFoundException, lambda: tg.schemas.get_event_schema("no_such_schema"), 404)
    fails(NotFoundException, lambda: tg.schemas.activate_event_schema("no_such_schema"), 404)
    fails(BadRequestException, lambda: tg.schemas.list_event_schemas(page_size=51), 400)
    fails(BadRequestException, lambda: tg.schemas.list_event_schemas(next_token="forged.x"), 400)


def test_features_create_get_list_update(tg: Entitled) -> None:
    schema = tg.new_schema("tokens", "seconds")
    created = tg.features.create_feature(
        CreateFeatureRequest(
            name="AI tokens",
            billable_name="AI tokens (billed)",
            schema_associations=[
                EventSchemasForFeature(schema_name=schema, attribute_name="tokens")
            ],
        )
    )
    assert isinstance(created, Feature)
    assert created.id.startswith("feature.") and len(created.id) <= 50
    assert created.name == "AI tokens"
    assert created.billable_name == "AI tokens (billed)"
    assert created.display_name == "AI tokens (billed)"
    assert [(a.schema_name, a.attribute_name) for a in created.schema_associations] == [
        (schema, "tokens")
    ]
    assert created.created_at == NOW_AT

    plain = tg.features.create_feature(CreateFeatureRequest(name="Seats", schema_associations=[]))
    assert isinstance(plain, Feature)
    assert plain.display_name == "Seats" and plain.billable_name is None
    assert plain.schema_associations == []

    got = tg.features.get_feature(created.id)
    assert isinstance(got, Feature) and got == created

    more = [tg.new_feature(f"Feature {i}") for i in range(3)]
    listed: dict[str, int] = {}
    token: str | None = None
    for _ in range(5):
        page = tg.features.get_features(next_token=token, page_size=2)
        assert isinstance(page, FeaturePaginatedListData)
        assert page.data is not None and len(page.data) <= 2
        listed.update({f.id: f.schema_count for f in page.data})
        token = page.next_token
        if token is None:
            break
    assert listed == {created.id: 1, plain.id: 0, **{f: 0 for f in more}}
    one_page = tg.features.get_features(page_size=50.0)
    assert one_page is not None and len(one_page.data or []) == 5
    assert one_page.next_token is None

    updated = tg.features.update_feature(
        plain.id,
        UpdateFeatureRequest(
            billable_name="Seats (billed)",
            schema_associations=[
                EventSchemasForFeature(schema_name=schema, attribute_name="seconds")
            ],
        ),
    )
    assert isinstance(updated, Feature)
    assert updated.name == "Seats" and updated.display_name == "Seats (billed)"
    assert [(a.schema_name, a.attribute_name) for a in updated.schema_associations] == [
        (schema, "seconds")
    ]
    assert updated.updated_at is not None
    assert tg.features.get_feature(plain.id) == updated

    fails(NotFoundException, lambda: tg.features.get_feature("feature.00000000000.00000"), 404)
    fails(
        NotFoundException,
        lambda: tg.features.update_feature("nope", UpdateFeatureRequest(name="Nope")),
        404,
    )
    missing_schema = fails(
        NotFoundException,
        lambda: tg.features.create_feature(
            CreateFeatureRequest(
                name="Orphan",
                schema_associations=[
                    EventSchemasForFeature(schema_name="no_such_schema", attribute_name="x")
                ],
            )
        ),
        404,
    )
    assert "no_such_schema" in missing_schema
    fails(
        BadRequestException,
        lambda: tg.features.create_feature(
            CreateFeatureRequest(
                name="Bad attribute",
                schema_associations=[
                    EventSchemasForFeature(schema_name=schema, attribute_name="nonexistent")
                ],
            )
        ),
        400,
    )
    fails(BadRequestException, lambda: tg.features.get_features(page_size=2.5), 400)


# --- the eight EntitlementsApi operations ---------------------------------------------------


def test_feature_credits_and_entries_parse(tg: Entitled) -> None:
    w = build_world(tg)
    credits = tg.entitlements.get_feature_credits(w.account, w.tokens)
    assert isinstance(credits, GetFeatureCreditsResponse)
    assert credits.account_id == w.account and credits.feature_id == w.tokens
    # June's 100 + the purchase's 10 x 2.5 + the 0.5 refund; May and April have expired.
    assert credits.granted == 125.5
    assert credits.balance == 125.5
    assert credits.overage_limit == 20 and isinstance(credits.overage_limit, int)
    assert credits.used_overage == 0

    seats = tg.entitlements.get_feature_credits(w.account, w.seats)
    assert isinstance(seats, GetFeatureCreditsResponse)
    assert (seats.granted, seats.balance, seats.used_overage) == (0, 0, 0)
    assert seats.overage_limit is None

    entries = all_entries(tg, w.account, w.tokens, size=3)
    # Three monthly cycles of PRICE_PLAN + OVERAGE, the purchase and the refund.
    by_id = {e.id: e for e in entries}
    assert len(entries) == len(by_id) == 8
    expected = {
        w.entry("2030-04-01", "PRICE_PLAN"): ("PRICE_PLAN", "EXPIRED"),
        w.entry("2030-04-01", "OVERAGE"): ("OVERAGE", "EXPIRED"),
        w.entry("2030-05-01", "PRICE_PLAN"): ("PRICE_PLAN", "EXPIRED"),
        w.entry("2030-05-01", "OVERAGE"): ("OVERAGE", "EXPIRED"),
        w.entry("2030-06-01", "PRICE_PLAN"): ("PRICE_PLAN", "ACTIVE"),
        w.entry("2030-06-01", "OVERAGE"): ("OVERAGE", "ACTIVE"),
        w.purchase: ("ENTITLEMENT", "ACTIVE"),
        w.refund: ("REFUND", "ACTIVE"),
    }
    assert {i: (e.source, e.status) for i, e in by_id.items()} == expected

    june = by_id[w.entry("2030-06-01", "PRICE_PLAN")]
    assert june.effective_from == datetime(2030, 6, 1, tzinfo=UTC)
    assert june.effective_until == datetime(2030, 7, 1, tzinfo=UTC)
    assert (june.granted, june.balance, june.used) == (100, 100, 0)
    assert isinstance(june.granted, int) and isinstance(june.used, int)
    pack = by_id[w.purchase]
    assert pack.granted == 25 and pack.effective_from == NOW_AT
    assert pack.effective_until == datetime(2030, 7, 15, 12, tzinfo=UTC)
    refund = by_id[w.refund]
    assert refund.granted == 0.5 and refund.balance == 0.5
    # An entry without an end shows the far-future end the required field calls for.
    assert refund.effective_until == OPEN_END
    assert all(e.effective_from.tzinfo is not None for e in entries)

    whole = tg.entitlements.list_feature_credit_entries(w.account, w.tokens)
    assert isinstance(whole, GetFeatureCreditEntriesPaginatedResponse)
    assert whole.next_token is None
    assert [e.id for e in whole.data or []] == [e.id for e in entries]
    nothing = tg.entitlements.list_feature_credit_entries(w.account, w.seats)
    assert isinstance(nothing, GetFeatureCreditEntriesPaginatedResponse)
    assert nothing.data == [] and nothing.next_token is None

    first = tg.entitlements.list_feature_credit_entries(w.account, w.tokens, page_size=3)
    assert first is not None and first.next_token
    fails(
        BadRequestException,
        lambda: tg.entitlements.list_feature_credit_entries(
            w.account, w.seats, next_token=first.next_token
        ),
        400,
    )
    fails(
        BadRequestException,
        lambda: tg.entitlements.list_feature_credit_entries(w.account, w.tokens, page_size=51),
        400,
    )
    fails(
        BadRequestException,
        lambda: tg.entitlements.list_feature_credit_entries(w.account, w.tokens, page_size=0),
        400,
    )


def test_entitled_gate_draws_and_refuses(tg: Entitled) -> None:
    w = build_world(tg)
    ok = tg.event(w.account, w.schema, "evt-first-" + w.account, tokens="130.5", seconds="2")
    assert isinstance(ok, BaseSuccessResponse) and ok.success is True

    credits = tg.entitlements.get_feature_credits(w.account, w.tokens)
    assert credits is not None
    # 125.5 of included credits, then 5 from June's overage.
    assert (credits.granted, credits.balance) == (125.5, 0)
    assert (credits.overage_limit, credits.used_overage) == (20, 5)
    by_id = {e.id: e for e in all_entries(tg, w.account, w.tokens, size=50)}
    assert (by_id[w.entry("2030-06-01", "OVERAGE")].used, by_id[w.refund].used) == (5, 0.5)
    # Used up is still ACTIVE: the wire's status enum has no CONSUMED.
    assert (by_id[w.purchase].balance, by_id[w.purchase].status) == (0, "ACTIVE")

    refused_id = "evt-refused-" + w.account
    refused = fails(
        ForbiddenException, lambda: tg.event(w.account, w.schema, refused_id, tokens="16"), 403
    )
    assert w.tokens in refused and "16" in refused and "15" in refused
    after = tg.entitlements.get_feature_credits(w.account, w.tokens)
    assert after is not None and after.used_overage == 5

    duplicate = fails(
        ApiException,
        lambda: tg.event(w.account, w.schema, "evt-first-" + w.account, tokens="1"),
        409,
    )
    assert "evt-first-" + w.account in duplicate
    # A refused event's id is spent too.
    fails(ApiException, lambda: tg.event(w.account, w.schema, refused_id, tokens="1"), 409)
    again = tg.entitlements.get_feature_credits(w.account, w.tokens)
    assert again is not None and again.used_overage == 5

    zero = tg.event(w.account, w.schema, at=datetime(2030, 6, 15, 12, 30, tzinfo=UTC), tokens="0")
    assert isinstance(zero, BaseSuccessResponse) and zero.success is True
    fails(BadRequestException, lambda: tg.event(w.account, "no_such_schema", tokens="1"), 400)
    lonely = tg.new_schema("tokens")
    fails(BadRequestException, lambda: tg.event(w.account, lonely, tokens="1"), 400)
    # An event lacking the consumed attribute consumes none of the feature (docs/api.md §7).
    before = tg.entitlements.get_feature_credits(w.account, w.tokens)
    lacking = tg.event(w.account, w.schema, seconds="1")
    assert isinstance(lacking, BaseSuccessResponse) and lacking.success is True
    assert tg.entitlements.get_feature_credits(w.account, w.tokens) == before
    fails(BadRequestException, lambda: tg.event("no-such-account", w.schema, tokens="1"), 400)
    fails(BadRequestException, lambda: tg.entitlements.ingest_entitled_event(), 400)


def test_patch_and_void_entries(tg: Entitled) -> None:
    w = build_world(tg)
    assert tg.event(w.account, w.schema, tokens="40") is not None
    june = w.entry("2030-06-01", "PRICE_PLAN")

    # Entry ids carry `#` and `$`, which the client sends as %23 and %24.
    patched = tg.entitlements.update_feature_credit_entry(
        w.account, w.tokens, june, UpdateFeatureCreditsRequest(granted=150.25)
    )
    assert isinstance(patched, FeatureCreditEntry)
    assert patched.id == june and patched.source == "PRICE_PLAN" and patched.status == "ACTIVE"
    assert (patched.granted, patched.used, patched.balance) == (150.25, 40, 110.25)
    assert patched.effective_until == datetime(2030, 7, 1, tzinfo=UTC)

    # The client sends aware datetimes as `+00:00` and naive ones without an offset.
    for until in (datetime(2031, 1, 1, tzinfo=UTC), datetime(2031, 2, 1, 6, 30)):
        extended = tg.entitlements.update_feature_credit_entry(
            w.account, w.tokens, w.refund, UpdateFeatureCreditsRequest(effective_until=until)
        )
        assert isinstance(extended, FeatureCreditEntry)
        assert extended.effective_until == until.replace(tzinfo=UTC)
        assert extended.source == "REFUND" and extended.granted == 0.5

    both = tg.entitlements.update_feature_credit_entry(
        w.account,
        w.tokens,
        w.purchase,
        UpdateFeatureCreditsRequest(granted=30, effective_until=datetime(2030, 8, 1, tzinfo=UTC)),
    )
    assert isinstance(both, FeatureCreditEntry)
    assert both.source == "ENTITLEMENT" and both.granted == 30
    credits = tg.entitlements.get_feature_credits(w.account, w.tokens)
    assert credits is not None and (credits.granted, credits.balance) == (180.75, 140.75)

    unchanged = tg.entitlements.update_feature_credit_entry(
        w.account, w.tokens, w.refund, UpdateFeatureCreditsRequest()
    )
    assert isinstance(unchanged, FeatureCreditEntry) and unchanged.granted == 0.5

    def patch(entry_id: str, **fields: Any) -> object:
        return tg.entitlements.update_feature_credit_entry(
            w.account, w.tokens, entry_id, UpdateFeatureCreditsRequest(**fields)
        )

    fails(BadRequestException, lambda: patch(june, granted=39), 400)
    fails(BadRequestException, lambda: patch(june, effective_until=datetime(2030, 6, 1)), 400)
    fails(BadRequestException, lambda: patch(june, granted=-1), 400)
    fails(BadRequestException, lambda: patch(w.entry("2030-05-01", "PRICE_PLAN"), granted=1), 400)
    fails(NotFoundException, lambda: patch("entry.00000000000.00000", granted=1), 404)

    voided = tg.entitlements.void_feature_credit_entry(w.account, w.tokens, w.refund)
    assert isinstance(voided, BaseSuccessResponse) and voided.success is True
    repeat = tg.entitlements.void_feature_credit_entry(w.account, w.tokens, w.refund)
    assert isinstance(repeat, BaseSuccessResponse) and repeat.success is True
    entries = {e.id: e for e in all_entries(tg, w.account, w.tokens, size=50)}
    assert entries[w.refund].status == "VOIDED"
    assert entries[w.refund].source == "REFUND"
    credits = tg.entitlements.get_feature_credits(w.account, w.tokens)
    assert credits is not None and credits.granted == 180.25

    fails(BadRequestException, lambda: patch(w.refund, granted=5), 400)
    fails(
        BadRequestException,
        lambda: tg.entitlements.void_feature_credit_entry(
            w.account, w.tokens, w.entry("2030-04-01", "OVERAGE")
        ),
        400,
    )
    fails(
        NotFoundException,
        lambda: tg.entitlements.void_feature_credit_entry(
            w.account, w.tokens, "entry.00000000000.00000"
        ),
        404,
    )


def test_entitlement_values_get_and_validate(tg: Entitled) -> None:
    w = build_world(tg)
    unheld = tg.new_feature("Never granted")

    values = tg.entitlements.get_entitlements(w.account)
    assert isinstance(values, GetEntitlementValuesResponse)
    assert sorted((v.feature_id, v.value) for v in values.data) == sorted(
        [(w.tokens, "true"), (w.seats, "true"), (w.tier, "gold")]
    )
    assert all(isinstance(v, GetEntitlementValuesResponseDataInner) for v in values.data)

    for feature, value in ((w.tokens, "true"), (w.seats, "true"), (w.tier, "gold")):
        one = tg.entitlements.get_entitlement_value(w.account, feature)
        assert isinstance(one, GetEntitlementValuesResponse)
        assert [(v.feature_id, v.value) for v in one.data] == [(feature, value)]

    def check(feature: str, asked: str) -> bool:
        answer = tg.entitlements.validate_entitlement_value(
            w.account, feature, ValidateEntitlementValueRequest(value=asked)
        )
        assert isinstance(answer, BaseSuccessResponse)
        return answer.success

    # Metered: the asked quantity against balance (125.5) plus remaining overage (20).
    assert check(w.tokens, "true") is True
    assert check(w.tokens, "145.5") is True
    assert check(w.tokens, "145.6") is False
    assert check(w.seats, "true") is True
    assert check(w.tier, "gold") is True
    assert check(w.tier, "silver") is False
    assert check(unheld, "true") is False

    assert tg.event(w.account, w.schema, tokens="145.5") is not None
    spent = tg.entitlements.get_entitlement_value(w.account, w.tokens)
    assert spent is not None and [v.value for v in spent.data] == ["false"]
    assert check(w.tokens, "true") is False
    assert check(w.tokens, "0") is True

    # These three operations declare no error codes: the client raises with `.data` None,
    # but the body is still the `{message}` shape.
    fails(
        NotFoundException,
        lambda: tg.entitlements.get_entitlement_value(w.account, unheld),
        404,
        declared=False,
    )
    fails(
        NotFoundException,
        lambda: tg.entitlements.get_entitlements("no-such-account"),
        404,
        declared=False,
    )
    fails(
        NotFoundException,
        lambda: tg.entitlements.get_entitlement_value(w.account, "feature.00000000000.00000"),
        404,
        declared=False,
    )
    fails(
        NotFoundException,
        lambda: tg.entitlements.validate_entitlement_value(
            "no-such-account", w.tokens, ValidateEntitlementValueRequest(value="true")
        ),
        404,
        declared=False,
    )
    fails(
        BadRequestException,
        lambda: tg.entitlements.validate_entitlement_value(w.account, w.tokens),
        400,
        declared=False,
    )


def test_deprecated_purchase_operations_parse(tg: Entitled) -> None:
    """The client's own purchase calls (AccountsApi, deprecated) read grantledger's answers."""
    account = tg.new_account()
    tokens = tg.new_feature("AI tokens")
    plan = tg.post(
        "/entitlement_plans",
        {
            "name": "Token pack",
            "type": "PURCHASE",
            "features": [{"featureId": tokens, "creditsPerCycle": 100}],
        },
    )
    bought = tg.accounts.initiate_one_time_entitlement_plan(
        account,
        CreatePurchaseRequest(
            price_plan_id=plan["id"],
            rate_card_quantities={tokens: 1.2},
            idempotency_key="pack-" + account,
            effective_from=date(2030, 6, 1),
            effective_until=date(2030, 12, 1),
        ),
    )
    assert isinstance(bought, Purchase)
    assert bought.id.startswith("purchase.")
    assert bought.account_id == account and bought.price_plan_id == plan["id"]
    assert bought.rate_card_quantities == {tokens: 1.2}
    assert bought.status == "SUCCESS" and bought.type == "ENTITLEMENT_GRANT"
    assert (bought.effective_from, bought.effective_until) == (date(2030, 6, 1), date(2030, 12, 1))
    assert bought.created_at == NOW_AT

    got = tg.accounts.get_purchase(bought.id)
    assert isinstance(got, GetPurchaseResponse) and got.id == bought.id

    entries = all_entries(tg, account, tokens, size=50)
    assert [(e.id, e.source, e.granted) for e in entries] == [
        (bought.id + "#1$PURCHASE", "ENTITLEMENT", 120)
    ]
    assert entries[0].effective_until == datetime(2030, 12, 1, tzinfo=UTC)
    fails(NotFoundException, lambda: tg.accounts.get_purchase("purchase.00000000000.00000"), 404)


# --- authentication and tenants --------------------------------------------------------------


def every_call(c: Entitled, w: World) -> list[tuple[Callable[[], object], bool]]:
    """One call of each operation covered here, and whether it declares its error codes."""
    return [
        (lambda: c.entitlements.get_feature_credits(w.account, w.tokens), True),
        (lambda: c.entitlements.list_feature_credit_entries(w.account, w.tokens), True),
        (
            lambda: c.entitlements.update_feature_credit_entry(
                w.account, w.tokens, w.refund, UpdateFeatureCreditsRequest(granted=1)
            ),
            True,
        ),
        (lambda: c.entitlements.void_feature_credit_entry(w.account, w.tokens, w.refund), True),
        (lambda: c.entitlements.get_entitlements(w.account), False),
        (lambda: c.entitlements.get_entitlement_value(w.account, w.tokens), False),
        (
            lambda: c.entitlements.validate_entitlement_value(
                w.account, w.tokens, ValidateEntitlementValueRequest(value="true")
            ),
            False,
        ),
        (lambda: c.event(w.account, w.schema, tokens="1"), True),
        (lambda: c.features.get_feature(w.tokens), True),
        (lambda: c.features.get_features(), True),
        (
            lambda: c.features.create_feature(
                CreateFeatureRequest(name="x", schema_associations=[])
            ),
            True,
        ),
        (lambda: c.schemas.get_event_schema(w.schema), True),
        (lambda: c.schemas.list_event_schemas(), True),
    ]


def test_unauthorized_everywhere(server: Server) -> None:
    server.set_clock(NOW)
    owner = Entitled(server, server.key())
    try:
        w = build_world(owner)
    finally:
        owner.close()
    for key in (None, "gl_not_a_real_key"):
        c = Entitled(server, key)
        try:
            for call, declared in every_call(c, w):
                fails(UnauthorizedException, call, 401, declared=declared)
        finally:
            c.close()
    server.set_clock(NOW)
    check = Entitled(server, owner.key)
    try:
        credits = check.entitlements.get_feature_credits(w.account, w.tokens)
        assert credits is not None and credits.balance == 125.5
        refund = {e.id: e for e in all_entries(check, w.account, w.tokens, 50)}[w.refund]
        assert refund.status == "ACTIVE" and refund.granted == 0.5
    finally:
        check.close()
        server.set_clock(None)


def test_other_tenant_sees_nothing(tg: Entitled, server: Server) -> None:
    w = build_world(tg)
    stranger = Entitled(server, server.key())
    try:
        fails(
            NotFoundException,
            lambda: stranger.entitlements.get_feature_credits(w.account, w.tokens),
            404,
            declared=False,
        )
        fails(
            NotFoundException,
            lambda: stranger.entitlements.list_feature_credit_entries(w.account, w.tokens),
            404,
            declared=False,
        )
        fails(
            NotFoundException,
            lambda: stranger.entitlements.void_feature_credit_entry(w.account, w.tokens, w.refund),
            404,
        )
        fails(
            NotFoundException,
            lambda: stranger.entitlements.get_entitlements(w.account),
            404,
            declared=False,
        )
        fails(NotFoundException, lambda: stranger.features.get_feature(w.tokens), 404)
        fails(NotFoundException, lambda: stranger.schemas.get_event_schema(w.schema), 404)
        # The first tenant's schema and account do not exist for it.
        fails(BadRequestException, lambda: stranger.event(w.account, w.schema, tokens="1"), 400)
        page = stranger.features.get_features()
        assert isinstance(page, FeaturePaginatedListData) and not page.data
    finally:
        stranger.close()
    refund = {e.id: e for e in all_entries(tg, w.account, w.tokens, 50)}[w.refund]
    assert refund.status == "ACTIVE"
