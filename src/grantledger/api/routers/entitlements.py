"""Account entitlements: plans and purchases, the eight Togai operations, and `/entitled`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from grantledger.api.deps import PagingDep, PathId, TenantDep, respond
from grantledger.api.jsonio import WireJSONResponse, WireRoute
from grantledger.api.schemas.common import SuccessResponse
from grantledger.api.schemas.entitlements import (
    AssignPlanRequest,
    CreatePurchaseRequest,
    EntitlementValue,
    FeatureCreditEntryOut,
    FeatureCreditEntryPage,
    GetEntitlementValuesResponse,
    GetFeatureCreditsResponse,
    GetPurchaseOut,
    GrantEntryRequest,
    IngestEventRequest,
    PurchaseFeatureOut,
    PurchaseListItem,
    PurchaseOut,
    PurchasePage,
    ScheduleOut,
    SchedulePage,
    UpdateFeatureCreditsRequest,
    ValueRequest,
)
from grantledger.api.wire import dump, parse_as_of
from grantledger.domain.entitlements import EntrySource
from grantledger.service.entitlements import entitlements, events, grants, schedules
from grantledger.service.entitlements.entitlements import Holding
from grantledger.service.entitlements.events import EventInput
from grantledger.service.entitlements.grants import GrantInput, PurchaseInput
from grantledger.service.entitlements.schedules import AssignInput

router = APIRouter(route_class=WireRoute, tags=["Entitlements"])
EntryId = Annotated[str, Path(min_length=1, max_length=50)]


def _values(holdings: list[Holding]) -> GetEntitlementValuesResponse:
    return GetEntitlementValuesResponse(
        data=[EntitlementValue(feature_id=h.feature_id, value=h.shown) for h in holdings]
    )


@router.post("/accounts/{account_id}/plans", response_model=ScheduleOut)
async def assign_plan(
    account_id: PathId, body: AssignPlanRequest, tenant: TenantDep
) -> WireJSONResponse:
    spec = AssignInput(
        plan_id=body.plan_id,
        start=body.effective_from,
        end=body.effective_until,
        idempotency_key=body.idempotency_key,
    )
    schedule = await schedules.assign_plan(tenant, account_id, spec)
    return respond(ScheduleOut.of(schedule))


@router.get("/accounts/{account_id}/plans", response_model=SchedulePage)
async def list_account_plans(account_id: PathId, tenant: TenantDep) -> WireJSONResponse:
    found = await schedules.list_schedules(tenant, account_id)
    return respond(SchedulePage(data=[ScheduleOut.of(s) for s in found]))


@router.post("/accounts/{account_id}/purchases", response_model=PurchaseOut)
async def create_purchase(
    account_id: PathId, body: CreatePurchaseRequest, tenant: TenantDep
) -> WireJSONResponse:
    spec = PurchaseInput(
        plan_id=body.price_plan_id,
        quantities=dict(body.rate_card_quantities) if body.rate_card_quantities else None,
        idempotency_key=body.idempotency_key,
        effective_from=body.effective_from,
        effective_until=body.effective_until,
        quantity=body.quantity,
        type=body.type,
        expiry_date=body.expiry_date,
        options=body.options(),
        cost_basis=body.cost_basis,
    )
    return respond(PurchaseOut.of(await grants.purchase(tenant, account_id, spec)))


@router.get("/accounts/{account_id}/purchases", response_model=PurchasePage)
async def list_account_purchases(
    account_id: PathId,
    tenant: TenantDep,
    paging: PagingDep,
) -> WireJSONResponse:
    cursor = paging.cursor("purchases", account_id)
    page = await grants.list_purchases(tenant, account_id, cursor.after, paging.limit)
    return respond(
        PurchasePage(
            data=[PurchaseListItem.of(p) for p in page.items],
            next_token=cursor.next(page.last_key),
        )
    )


@router.get("/purchases/{purchase_id}", response_model=GetPurchaseOut)
async def get_purchase(purchase_id: PathId, tenant: TenantDep) -> WireJSONResponse:
    bought, granted = await grants.get_purchase(tenant, purchase_id)
    out = PurchaseOut.of(bought)
    return respond(
        GetPurchaseOut(**out.model_dump(), features=[PurchaseFeatureOut.of(g) for g in granted])
    )


@router.post(
    "/accounts/{account_id}/features/{feature_id}/entries", response_model=FeatureCreditEntryOut
)
async def grant_entry(
    account_id: PathId, feature_id: PathId, body: GrantEntryRequest, tenant: TenantDep
) -> WireJSONResponse:
    spec = GrantInput(
        granted=body.granted,
        source=EntrySource(body.source),
        effective_from=body.effective_from,
        effective_until=body.effective_until,
        idempotency_key=body.idempotency_key,
        cost_basis=body.cost_basis,
    )
    record = await grants.grant_entry(tenant, account_id, feature_id, spec)
    return respond(FeatureCreditEntryOut.of(record, tenant.now()))


@router.put(
    "/accounts/{account_id}/entitlements/{feature_id}", response_model=GetEntitlementValuesResponse
)
async def set_entitlement_value(
    account_id: PathId, feature_id: PathId, body: ValueRequest, tenant: TenantDep
) -> WireJSONResponse:
    holding = await entitlements.set_value(tenant, account_id, feature_id, body.value)
    return respond(_values([holding]))


@router.get("/accounts/{account_id}/entitlements", response_model=GetEntitlementValuesResponse)
async def get_entitlements(account_id: PathId, tenant: TenantDep) -> WireJSONResponse:
    return respond(_values(await entitlements.entitlements(tenant, account_id)))


@router.get(
    "/accounts/{account_id}/entitlements/{feature_id}", response_model=GetEntitlementValuesResponse
)
async def get_entitlement_value(
    account_id: PathId, feature_id: PathId, tenant: TenantDep
) -> WireJSONResponse:
    return respond(_values([await entitlements.entitlement(tenant, account_id, feature_id)]))


@router.post("/accounts/{account_id}/entitlements/{feature_id}", response_model=SuccessResponse)
async def validate_entitlement_value(
    account_id: PathId, feature_id: PathId, body: ValueRequest, tenant: TenantDep
) -> WireJSONResponse:
    ok = await entitlements.validate(tenant, account_id, feature_id, body.value)
    return respond(SuccessResponse(success=ok))


@router.get(
    "/accounts/{account_id}/features/{feature_id}", response_model=GetFeatureCreditsResponse
)
async def get_feature_credits(
    account_id: PathId,
    feature_id: PathId,
    tenant: TenantDep,
    as_of: str | None = Query(None, alias="asOf", description="a past instant (extension)"),
) -> WireJSONResponse:
    credits = await entitlements.feature_credits(tenant, account_id, feature_id, parse_as_of(as_of))
    return respond(
        GetFeatureCreditsResponse(
            account_id=account_id,
            feature_id=feature_id,
            granted=credits.granted,
            balance=credits.balance,
            overage_limit=credits.overage_limit,
            used_overage=credits.used_overage,
            held=credits.held or None,
        )
    )


@router.get(
    "/accounts/{account_id}/features/{feature_id}/entries",
    response_model=FeatureCreditEntryPage,
)
async def list_feature_credit_entries(
    account_id: PathId,
    feature_id: PathId,
    tenant: TenantDep,
    paging: PagingDep,
) -> WireJSONResponse:
    cursor = paging.cursor("entries", account_id, feature_id)
    page = await entitlements.list_entries(
        tenant, account_id, feature_id, cursor.after, paging.limit
    )
    now = tenant.now()
    return respond(
        FeatureCreditEntryPage(
            data=[FeatureCreditEntryOut.of(r, now) for r in page.items],
            next_token=cursor.next(page.last_key),
        )
    )


@router.patch(
    "/accounts/{account_id}/features/{feature_id}/entries/{entry_id}",
    response_model=FeatureCreditEntryOut,
)
async def update_feature_credit_entry(
    account_id: PathId,
    feature_id: PathId,
    entry_id: EntryId,
    body: UpdateFeatureCreditsRequest,
    tenant: TenantDep,
) -> WireJSONResponse:
    record = await entitlements.patch_entry(
        tenant, account_id, feature_id, entry_id, body.effective_until, body.granted
    )
    return respond(FeatureCreditEntryOut.of(record, tenant.now()))


@router.post(
    "/accounts/{account_id}/features/{feature_id}/entries/{entry_id}/void",
    response_model=SuccessResponse,
)
async def void_feature_credit_entry(
    account_id: PathId, feature_id: PathId, entry_id: EntryId, tenant: TenantDep
) -> WireJSONResponse:
    await entitlements.void_entry(tenant, account_id, feature_id, entry_id)
    return respond(SuccessResponse(success=True))


def event_input(body: IngestEventRequest) -> EventInput:
    """The event as the gate takes it (also built by `api/gate_door.py`, the gate's fast door)."""
    e = body.event
    return EventInput(
        schema_name=e.schema_name,
        id=e.id,
        timestamp=e.timestamp,
        account_id=e.account_id,
        attributes=[(a.name, a.value) for a in e.attributes],
        payload=dump(e) | {"timestamp": e.timestamp.isoformat()},
    )


@router.post("/entitled", response_model=SuccessResponse)
async def ingest_entitled_event(body: IngestEventRequest, tenant: TenantDep) -> WireJSONResponse:
    """Ingest the event only if the account is entitled to every feature it consumes.

    A valid event is answered by `api/gate_door.py` before routing; this route answers the
    rest (and serves apps built without that middleware)."""
    await events.ingest_entitled(tenant, event_input(body))
    return respond(SuccessResponse(success=True))
