"""Webhook endpoints and their deliveries; auto top-up of an account (grantledger extensions)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from grantledger.api.deps import PagingDep, PathId, TenantDep, respond
from grantledger.api.jsonio import WireJSONResponse, WireRoute
from grantledger.api.schemas.common import SuccessResponse
from grantledger.api.schemas.webhooks import (
    AutoTopupOut,
    AutoTopupRequest,
    CreateEndpointRequest,
    DeliveryOut,
    DeliveryPage,
    EndpointOut,
    EndpointPage,
    UpdateEndpointRequest,
)
from grantledger.service.notifications import topup, webhooks
from grantledger.service.notifications.webhooks import UrlPolicy

router = APIRouter(route_class=WireRoute, tags=["Webhooks (extension)"])


async def _key(request: Request) -> bytes:
    key: bytes = request.app.state.webhook_key
    return key


async def _policy(request: Request) -> UrlPolicy:
    policy: UrlPolicy = request.app.state.url_policy
    return policy


Key = Annotated[bytes, Depends(_key)]
Policy = Annotated[UrlPolicy, Depends(_policy)]


@router.post("/webhook_endpoints", status_code=201, response_model=EndpointOut)
async def create_endpoint(
    body: CreateEndpointRequest, tenant: TenantDep, key: Key, policy: Policy
) -> WireJSONResponse:
    """The answer carries the signing `secret`; it is shown again only by rotate_secret."""
    created = await webhooks.create(tenant, key, policy, body.to_input())
    return respond(EndpointOut.of(created.endpoint, created.secret), 201)


@router.get("/webhook_endpoints", response_model=EndpointPage)
async def list_endpoints(
    tenant: TenantDep,
    paging: PagingDep,
) -> WireJSONResponse:
    cursor = paging.cursor("webhook_endpoints")
    page = await webhooks.list_endpoints(tenant, cursor.after, paging.limit)
    return respond(
        EndpointPage(
            data=[EndpointOut.of(e) for e in page.items],
            next_token=cursor.next(page.last_key),
        )
    )


@router.get("/webhook_endpoints/{endpoint_id}", response_model=EndpointOut)
async def get_endpoint(endpoint_id: PathId, tenant: TenantDep) -> WireJSONResponse:
    return respond(EndpointOut.of(await webhooks.get(tenant, endpoint_id)))


@router.patch("/webhook_endpoints/{endpoint_id}", response_model=EndpointOut)
async def update_endpoint(
    endpoint_id: PathId, body: UpdateEndpointRequest, tenant: TenantDep, policy: Policy
) -> WireJSONResponse:
    changed = await webhooks.change(tenant, policy, endpoint_id, body.to_change())
    return respond(EndpointOut.of(changed))


@router.delete("/webhook_endpoints/{endpoint_id}", response_model=SuccessResponse)
async def delete_endpoint(endpoint_id: PathId, tenant: TenantDep) -> WireJSONResponse:
    await webhooks.delete(tenant, endpoint_id)
    return respond(SuccessResponse(success=True))


@router.post("/webhook_endpoints/{endpoint_id}/rotate_secret", response_model=EndpointOut)
async def rotate_secret(endpoint_id: PathId, tenant: TenantDep, key: Key) -> WireJSONResponse:
    rotated = await webhooks.rotate_secret(tenant, key, endpoint_id)
    return respond(EndpointOut.of(rotated.endpoint, rotated.secret))


@router.get("/webhook_endpoints/{endpoint_id}/deliveries", response_model=DeliveryPage)
async def list_deliveries(
    endpoint_id: PathId,
    tenant: TenantDep,
    paging: PagingDep,
) -> WireJSONResponse:
    cursor = paging.cursor("deliveries", endpoint_id)
    page = await webhooks.deliveries(tenant, endpoint_id, cursor.after, paging.limit)
    return respond(
        DeliveryPage(
            data=[DeliveryOut.of(m) for m in page.items],
            next_token=cursor.next(page.last_key),
        )
    )


@router.post(
    "/webhook_endpoints/{endpoint_id}/deliveries/{message_id}/retry", response_model=DeliveryOut
)
async def retry_delivery(
    endpoint_id: PathId, message_id: PathId, tenant: TenantDep
) -> WireJSONResponse:
    return respond(DeliveryOut.of(await webhooks.retry(tenant, endpoint_id, message_id)))


@router.put("/accounts/{account_id}/auto_topup", response_model=AutoTopupOut)
async def put_auto_topup(
    account_id: PathId, body: AutoTopupRequest, tenant: TenantDep
) -> WireJSONResponse:
    record = await topup.put(tenant, account_id, body.to_setting())
    return respond(AutoTopupOut.of(record, tenant.now().strftime("%Y-%m")))


@router.get("/accounts/{account_id}/auto_topup", response_model=AutoTopupOut)
async def get_auto_topup(account_id: PathId, tenant: TenantDep) -> WireJSONResponse:
    record = await topup.get(tenant, account_id)
    return respond(AutoTopupOut.of(record, tenant.now().strftime("%Y-%m")))


@router.delete("/accounts/{account_id}/auto_topup", response_model=SuccessResponse)
async def delete_auto_topup(account_id: PathId, tenant: TenantDep) -> WireJSONResponse:
    await topup.delete(tenant, account_id)
    return respond(SuccessResponse(success=True))
