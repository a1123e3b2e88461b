"""Feature holds (grantledger extension): reserve units for work whose cost is known only after
it runs, then settle with the actual units, or release."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from grantledger.api.deps import PagingDep, PathId, TenantDep, respond
from grantledger.api.jsonio import WireJSONResponse, WireRoute
from grantledger.api.schemas.feature_holds import (
    FeatureHoldOut,
    FeatureHoldPage,
    FeatureHoldRequest,
    SettleRequest,
)
from grantledger.domain.errors import InvalidInput
from grantledger.domain.feature_holds import FeatureHoldStatus
from grantledger.service.entitlements import feature_holds

router = APIRouter(route_class=WireRoute, tags=["Feature holds (extension)"])
HoldId = Annotated[str, Path(min_length=1, max_length=255)]


@router.post("/accounts/{account_id}/feature_holds", response_model=FeatureHoldOut, status_code=201)
async def create_feature_hold(
    account_id: PathId, body: FeatureHoldRequest, tenant: TenantDep
) -> WireJSONResponse:
    """Hold every feature's units, or none: judged like `/entitled` (403 naming the feature
    not covered). The same id and body again answer the same hold; another body, 409."""
    view = await feature_holds.place(tenant, body.to_placement(account_id))
    return respond(FeatureHoldOut.of(view), 201)


@router.post("/accounts/{account_id}/feature_holds/{hold_id}/settle", response_model=FeatureHoldOut)
async def settle_feature_hold(
    account_id: PathId, hold_id: HoldId, body: SettleRequest, tenant: TenantDep
) -> WireJSONResponse:
    """Draw the units really used (beyond the hold where covered, the rest a shortfall); the
    held units not used go back."""
    view = await feature_holds.settle(tenant, account_id, hold_id, body.units())
    return respond(FeatureHoldOut.of(view))


@router.post(
    "/accounts/{account_id}/feature_holds/{hold_id}/release", response_model=FeatureHoldOut
)
async def release_feature_hold(
    account_id: PathId, hold_id: HoldId, tenant: TenantDep
) -> WireJSONResponse:
    view = await feature_holds.release(tenant, account_id, hold_id)
    return respond(FeatureHoldOut.of(view))


@router.get("/accounts/{account_id}/feature_holds/{hold_id}", response_model=FeatureHoldOut)
async def get_feature_hold(
    account_id: PathId, hold_id: HoldId, tenant: TenantDep
) -> WireJSONResponse:
    return respond(FeatureHoldOut.of(await feature_holds.get_hold(tenant, account_id, hold_id)))


@router.get("/accounts/{account_id}/feature_holds", response_model=FeatureHoldPage)
async def list_feature_holds(
    account_id: PathId,
    tenant: TenantDep,
    paging: PagingDep,
    status: Annotated[str | None, Query(max_length=20)] = None,
) -> WireJSONResponse:
    """The account's holds, newest first; `status` as they show now."""
    statuses = None
    if status is not None:
        if status not in FeatureHoldStatus.__members__:
            raise InvalidInput(f"status must be one of {', '.join(FeatureHoldStatus.__members__)}")
        statuses = [FeatureHoldStatus(status)]
    cursor = paging.cursor("feature_holds", account_id, status)
    views, last = await feature_holds.list_holds(
        tenant, account_id, statuses, cursor.after, paging.limit
    )
    return respond(
        FeatureHoldPage(data=[FeatureHoldOut.of(v) for v in views], next_token=cursor.next(last))
    )
