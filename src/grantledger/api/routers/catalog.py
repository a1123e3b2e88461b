"""Event schemas, features and entitlement plans."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from grantledger.api.deps import Ctx, Org, PathId, Tokens, respond
from grantledger.api.jsonio import WireJSONResponse, WireRoute
from grantledger.api.paging import page_size
from grantledger.api.schemas.entitlements import (
    CreateEventSchemaRequest,
    CreateFeatureRequest,
    CreatePlanRequest,
    EventSchemaOut,
    EventSchemaPage,
    FeatureListItem,
    FeatureOut,
    FeaturePage,
    PlanOut,
    PlanPage,
    UpdateFeatureRequest,
)
from grantledger.domain.entitlements import PlanType, ValueType
from grantledger.service import catalog
from grantledger.service.catalog import FeatureInput, PlanFeature

router = APIRouter(route_class=WireRoute, tags=["Event schemas, features, plans"])
SchemaPath = Annotated[str, Path(min_length=1, max_length=50)]


@router.post("/event_schema", status_code=201, response_model=EventSchemaOut)
async def create_event_schema(
    body: CreateEventSchemaRequest, org: Org, ctx: Ctx
) -> WireJSONResponse:
    return respond(EventSchemaOut.of(await catalog.create_schema(ctx, org, body.to_row())), 201)


@router.get("/event_schema/{event_schema_name}", response_model=EventSchemaOut)
async def get_event_schema(
    event_schema_name: SchemaPath,
    org: Org,
    ctx: Ctx,
    version: int | None = Query(None, description="only version 1 exists"),
) -> WireJSONResponse:
    row = await catalog.get_schema(ctx, org, event_schema_name, version)
    return respond(EventSchemaOut.of(row))


@router.get("/event_schema", response_model=EventSchemaPage)
async def list_event_schemas(
    org: Org,
    ctx: Ctx,
    tokens: Tokens,
    status: str | None = Query(None),
    next_token: str | None = Query(None, alias="nextToken"),
    size: str | None = Query(None, alias="pageSize"),
) -> WireJSONResponse:
    limit = page_size(size)
    scope = f"{org}:schemas:{status}"
    page = await catalog.list_schemas(ctx, org, status, tokens.decode(scope, next_token), limit)
    return respond(
        EventSchemaPage(
            data=[EventSchemaOut.of(r) for r in page.items],
            next_token=tokens.encode(scope, page.last_key),
        )
    )


@router.post("/event_schema/{event_schema_name}/activate", response_model=EventSchemaOut)
async def activate_event_schema(
    event_schema_name: SchemaPath, org: Org, ctx: Ctx
) -> WireJSONResponse:
    return respond(
        EventSchemaOut.of(await catalog.set_schema_status(ctx, org, event_schema_name, "ACTIVE"))
    )


@router.post("/event_schema/{event_schema_name}/deactivate", response_model=EventSchemaOut)
async def deactivate_event_schema(
    event_schema_name: SchemaPath, org: Org, ctx: Ctx
) -> WireJSONResponse:
    row = await catalog.set_schema_status(ctx, org, event_schema_name, "INACTIVE")
    return respond(EventSchemaOut.of(row))


@router.post("/features", response_model=FeatureOut)
async def create_feature(body: CreateFeatureRequest, org: Org, ctx: Ctx) -> WireJSONResponse:
    spec = FeatureInput(
        id=body.id,
        name=body.name,
        billable_name=body.billable_name,
        associations=[(a.schema_name, a.attribute_name) for a in body.schema_associations],
        value_type=ValueType(body.value_type),
        allowed_values=body.allowed_values,
    )
    return respond(FeatureOut.of(await catalog.create_feature(ctx, org, spec)))


@router.get("/features/{feature_id}", response_model=FeatureOut)
async def get_feature(feature_id: PathId, org: Org, ctx: Ctx) -> WireJSONResponse:
    return respond(FeatureOut.of(await catalog.get_feature(ctx, org, feature_id)))


@router.get("/features", response_model=FeaturePage)
async def list_features(
    org: Org,
    ctx: Ctx,
    tokens: Tokens,
    next_token: str | None = Query(None, alias="nextToken"),
    size: str | None = Query(None, alias="pageSize"),
) -> WireJSONResponse:
    limit = page_size(size)
    scope = f"{org}:features"
    page = await catalog.list_features(ctx, org, tokens.decode(scope, next_token), limit)
    return respond(
        FeaturePage(
            data=[FeatureListItem.of(r) for r in page.items],
            next_token=tokens.encode(scope, page.last_key),
        )
    )


@router.patch("/features/{feature_id}", response_model=FeatureOut)
async def update_feature(
    feature_id: PathId, body: UpdateFeatureRequest, org: Org, ctx: Ctx
) -> WireJSONResponse:
    changes = body.model_dump(include={"name", "billable_name"}, exclude_none=True)
    associations = (
        [(a.schema_name, a.attribute_name) for a in body.schema_associations]
        if body.schema_associations is not None
        else None
    )
    row = await catalog.update_feature(ctx, org, feature_id, changes, associations)
    return respond(FeatureOut.of(row))


@router.post("/entitlement_plans", response_model=PlanOut)
async def create_entitlement_plan(body: CreatePlanRequest, org: Org, ctx: Ctx) -> WireJSONResponse:
    items = [
        PlanFeature(f.feature_id, f.value, f.credits_per_cycle, f.overage_per_cycle, f.validity)
        for f in body.features
    ]
    row = await catalog.create_plan(
        ctx, org, body.id, body.name, PlanType(body.type), body.cycle, items
    )
    return respond(PlanOut.of(row))


@router.get("/entitlement_plans/{plan_id}", response_model=PlanOut)
async def get_entitlement_plan(plan_id: PathId, org: Org, ctx: Ctx) -> WireJSONResponse:
    return respond(PlanOut.of(await catalog.get_plan(ctx, org, plan_id)))


@router.get("/entitlement_plans", response_model=PlanPage)
async def list_entitlement_plans(
    org: Org,
    ctx: Ctx,
    tokens: Tokens,
    next_token: str | None = Query(None, alias="nextToken"),
    size: str | None = Query(None, alias="pageSize"),
) -> WireJSONResponse:
    limit = page_size(size)
    scope = f"{org}:plans"
    page = await catalog.list_plans(ctx, org, tokens.decode(scope, next_token), limit)
    return respond(
        PlanPage(
            data=[PlanOut.of(r) for r in page.items],
            next_token=tokens.encode(scope, page.last_key),
        )
    )
