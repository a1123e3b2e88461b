"""Two-phase consumption of credits (grantledger extension), keyed by invoice."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from grantledger.api.deps import PagingDep, PathId, TenantDep, respond
from grantledger.api.jsonio import WireJSONResponse, WireRoute
from grantledger.api.schemas.credits import HoldOut, HoldPage, HoldRequest
from grantledger.domain.holds import HoldKind, HoldStatus
from grantledger.service.credits import holds

router = APIRouter(route_class=WireRoute, tags=["Credit holds (extension)"])
InvoiceId = Annotated[str, Path(min_length=1, max_length=255)]


async def _place(
    body: HoldRequest, tenant: TenantDep, account_id: str, kind: HoldKind
) -> WireJSONResponse:
    view = await holds.place(tenant, body.to_placement(account_id, kind))
    return respond(HoldOut.of(view))


@router.post("/accounts/{account_id}/credit_holds", response_model=HoldOut)
async def create_hold(account_id: PathId, body: HoldRequest, tenant: TenantDep) -> WireJSONResponse:
    """Reserve what the credits can cover for an invoice, line by line, in burn-down order."""
    return await _place(body, tenant, account_id, HoldKind.HOLD)


@router.post("/accounts/{account_id}/credit_debits", response_model=HoldOut)
async def create_debit(
    account_id: PathId, body: HoldRequest, tenant: TenantDep
) -> WireJSONResponse:
    """Hold and capture in one step."""
    return await _place(body, tenant, account_id, HoldKind.DEBIT)


@router.post("/accounts/{account_id}/credit_holds/{invoice_id}/capture", response_model=HoldOut)
async def capture_hold(
    account_id: PathId, invoice_id: InvoiceId, tenant: TenantDep
) -> WireJSONResponse:
    view = await holds.settle(tenant, account_id, invoice_id, HoldStatus.CAPTURED)
    return respond(HoldOut.of(view))


@router.post("/accounts/{account_id}/credit_holds/{invoice_id}/release", response_model=HoldOut)
async def release_hold(
    account_id: PathId, invoice_id: InvoiceId, tenant: TenantDep
) -> WireJSONResponse:
    view = await holds.settle(tenant, account_id, invoice_id, HoldStatus.RELEASED)
    return respond(HoldOut.of(view))


@router.get("/accounts/{account_id}/credit_holds/{invoice_id}", response_model=HoldOut)
async def get_hold(
    account_id: PathId, invoice_id: InvoiceId, tenant: TenantDep
) -> WireJSONResponse:
    return respond(HoldOut.of(await holds.get_hold(tenant, account_id, invoice_id)))


@router.get("/accounts/{account_id}/credit_holds", response_model=HoldPage)
async def list_holds(
    account_id: PathId,
    tenant: TenantDep,
    paging: PagingDep,
) -> WireJSONResponse:
    cursor = paging.cursor("holds", account_id)
    page, unit = await holds.list_holds(tenant, account_id, cursor.after, paging.limit)
    return respond(
        HoldPage(
            data=[HoldOut.of(holds.view_at(h, unit, tenant.now())) for h in page.items],
            next_token=cursor.next(page.last_key),
        )
    )
