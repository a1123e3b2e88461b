"""Event schemas, features and entitlement plans."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from grantledger.api.deps import PagingDep, PathId, TenantDep, respond
from grantledger.api.jsonio import WireJSONResponse, WireRoute
from grantledger.api.schemas.catalog import (
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
from grantledger.api.schemas.common import SuccessResponse
from grantledger.domain.cycles import Cycle
from grantledger.domain.entitlements import PlanType, ValueType
from grantledger.domain.plans import PlanFeature, Rollover
from grantledger.service.entitlements import catalog
from grantledger.service.entitlements.catalog import FeatureChanges, FeatureInput, PlanInput

router = APIRouter(route_class=WireRoute, tags=["Event schemas, features, plans"])
SchemaPath = Annotated[str, Path(min_length=1, max_length=50)]


@router.post("/event_schema", status_code=201, response_model=EventSchemaOut)
async def create_event_schema(
    body: CreateEventSchemaRequest, tenant: TenantDep
) -> WireJSONResponse:
    return respond(EventSchemaOut.of(await catalog.create_schema(tenant, body.to_input())), 201)


@router.get("/event_schema/{event_schema_name}", response_model=EventSchemaOut)
async def get_event_schema(
    event_schema_name: SchemaPath,
    tenant: TenantDep,
    version: int | None = Query(None, description="only version 1 exists"),
) -> WireJSONResponse:
    schema = await catalog.get_schema(tenant, event_schema_name, version)
    return respond(EventSchemaOut.of(schema))


@router.delete("/event_schema/{event_schema_name}", response_model=SuccessResponse)
async def delete_event_schema(event_schema_name: SchemaPath, tenant: TenantDep) -> WireJSONResponse:
    """Delete a schema no feature consumes (409 naming them otherwise)."""
    await catalog.delete_schema(tenant, event_schema_name)
    return respond(SuccessResponse(success=True))


@router.get("/event_schema", response_model=EventSchemaPage)
async def list_event_schemas(
    tenant: TenantDep,
    paging: PagingDep,
    status: str | None = Query(None),
) -> WireJSONResponse:
    cursor = paging.cursor("schemas", status)
    page = await catalog.list_schemas(tenant, status, cursor.after, paging.limit)
    return respond(
        EventSchemaPage(
            data=[EventSchemaOut.of(r) for r in page.items],
            next_token=cursor.next(page.last_key),
        )
    )


@router.post("/event_schema/{event_schema_name}/activate", response_model=EventSchemaOut)
async def activate_event_schema(
    event_schema_name: SchemaPath, tenant: TenantDep
) -> WireJSONResponse:
    return respond(
        EventSchemaOut.of(await catalog.set_schema_status(tenant, event_schema_name, "ACTIVE"))
    )


@router.post("/event_schema/{event_schema_name}/deactivate", response_model=EventSchemaOut)
async def deactivate_event_schema(
    event_schema_name: SchemaPath, tenant: TenantDep
) -> WireJSONResponse:
    schema = await catalog.set_schema_status(tenant, event_schema_name, "INACTIVE")
    return respond(EventSchemaOut.of(schema))


@router.post("/features", response_model=FeatureOut)
async def create_feature(body: CreateFeatureRequest, tenant: TenantDep) -> WireJSONResponse:
    spec = FeatureInput(
        id=body.id,
        name=body.name,
        billable_name=body.billable_name,
        associations=[(a.schema_name, a.attribute_name) for a in body.schema_associations],
        value_type=ValueType(body.value_type),
        allowed_values=body.allowed_values,
    )
    return respond(FeatureOut.of(await catalog.create_feature(tenant, spec)))


@router.get("/features/{feature_id}", response_model=FeatureOut)
async def get_feature(feature_id: PathId, tenant: TenantDep) -> WireJSONResponse:
    return respond(FeatureOut.of(await catalog.get_feature(tenant, feature_id)))


@router.get("/features", response_model=FeaturePage)
async def list_features(
    tenant: TenantDep,
    paging: PagingDep,
) -> WireJSONResponse:
    cursor = paging.cursor("features")
    page = await catalog.list_features(tenant, cursor.after, paging.limit)
    return respond(
        FeaturePage(
            data=[FeatureListItem.of(r) for r in page.items],
            next_token=cursor.next(page.last_key),
        )
    )


@router.patch("/features/{feature_id}", response_model=FeatureOut)
async def update_feature(
    feature_id: PathId, body: UpdateFeatureRequest, tenant: TenantDep
) -> WireJSONResponse:
    changes = FeatureChanges(
        name=body.name,
        billable_name=body.billable_name,
        associations=[(a.schema_name, a.attribute_name) for a in body.schema_associations]
        if body.schema_associations is not None
        else None,
    )
    return respond(FeatureOut.of(await catalog.update_feature(tenant, feature_id, changes)))


@router.post("/entitlement_plans", response_model=PlanOut)
async def create_entitlement_plan(body: CreatePlanRequest, tenant: TenantDep) -> WireJSONResponse:
    spec = PlanInput(
        id=body.id,
        name=body.name,
        type=PlanType(body.type),
        cycle=Cycle(body.cycle),
        features=[
            PlanFeature(
                f.feature_id,
                f.value,
                f.credits_per_cycle,
                f.overage_per_cycle,
                f.validity,
                Rollover(f.rollover.max_units, f.rollover.max_cycles) if f.rollover else None,
            )
            for f in body.features
        ],
        grace_period_days=body.grace_period_days,
    )
    return respond(PlanOut.of(await catalog.create_plan(tenant, spec)))


@router.get("/entitlement_plans/{plan_id}", response_model=PlanOut)
async def get_entitlement_plan(plan_id: PathId, tenant: TenantDep) -> WireJSONResponse:
    return respond(PlanOut.of(await catalog.get_plan(tenant, plan_id)))


@router.get("/entitlement_plans", response_model=PlanPage)
async def list_entitlement_plans(
    tenant: TenantDep,
    paging: PagingDep,
) -> WireJSONResponse:
    cursor = paging.cursor("plans")
    page = await catalog.list_plans(tenant, cursor.after, paging.limit)
    return respond(
        PlanPage(
            data=[PlanOut.of(r) for r in page.items],
            next_token=cursor.next(page.last_key),
        )
    )
