"""Customers and accounts (Togai shapes; ids chosen by the caller)."""

from __future__ import annotations

from fastapi import APIRouter, Query

from grantledger.api.deps import PagingDep, PathId, TenantDep, respond
from grantledger.api.jsonio import WireJSONResponse, WireRoute
from grantledger.api.schemas.common import PaginationOptions, SuccessResponse
from grantledger.api.schemas.parties import (
    AccountOut,
    AccountPage,
    CreateAccountRequest,
    CreateCustomerRequest,
    CreateCustomerResponse,
    CustomerOut,
    CustomerPage,
    UpdateAccountRequest,
    UpdateCustomerRequest,
)
from grantledger.service.parties import parties

router = APIRouter(route_class=WireRoute, tags=["Customers and accounts"])


@router.post("/customers", status_code=201, response_model=CreateCustomerResponse)
async def create_customer(body: CreateCustomerRequest, tenant: TenantDep) -> WireJSONResponse:
    account = body.account.to_new() if body.account else None
    customer, created = await parties.create_customer(tenant, body.to_new(), account)
    out = CreateCustomerResponse(
        **CustomerOut.of(customer).model_dump(),
        account=AccountOut.of(created) if created else None,
    )
    return respond(out, 201)


@router.get("/customers/{customer_id}", response_model=CustomerOut)
async def get_customer(customer_id: PathId, tenant: TenantDep) -> WireJSONResponse:
    return respond(CustomerOut.of(await parties.get_customer(tenant, customer_id)))


@router.patch("/customers/{customer_id}", response_model=CustomerOut)
async def update_customer(
    customer_id: PathId, body: UpdateCustomerRequest, tenant: TenantDep
) -> WireJSONResponse:
    customer = await parties.update_customer(tenant, customer_id, body.to_changes())
    return respond(CustomerOut.of(customer))


@router.delete("/customers/{customer_id}", response_model=SuccessResponse)
async def delete_customer(customer_id: PathId, tenant: TenantDep) -> WireJSONResponse:
    """Delete a customer that owns no account (409 naming them otherwise)."""
    await parties.delete_customer(tenant, customer_id)
    return respond(SuccessResponse(success=True))


@router.get("/customers", response_model=CustomerPage)
async def list_customers(
    tenant: TenantDep,
    paging: PagingDep,
) -> WireJSONResponse:
    cursor = paging.cursor("customers")
    page = await parties.list_customers(tenant, cursor.after, paging.limit)
    return respond(
        CustomerPage(
            data=[CustomerOut.of(r) for r in page.items],
            next_token=cursor.next(page.last_key),
            context=PaginationOptions(page_size=paging.limit, sort_order="ASC"),
        )
    )


@router.post("/accounts", status_code=201, response_model=AccountOut)
async def create_account(body: CreateAccountRequest, tenant: TenantDep) -> WireJSONResponse:
    account = await parties.create_account(tenant, body.customer_id, body.to_new())
    return respond(AccountOut.of(account), 201)


@router.get("/accounts/{account_id}", response_model=AccountOut)
async def get_account(
    account_id: PathId,
    tenant: TenantDep,
    effective_on: str | None = Query(None, alias="effectiveOn"),
    include_group_details: str | None = Query(None, alias="includeGroupDetails"),
) -> WireJSONResponse:
    # effectiveOn and includeGroupDetails are Togai options with nothing to change here.
    return respond(AccountOut.of(await parties.get_account(tenant, account_id)))


@router.get("/accounts", response_model=AccountPage)
async def list_accounts(
    tenant: TenantDep,
    paging: PagingDep,
) -> WireJSONResponse:
    cursor = paging.cursor("accounts")
    page = await parties.list_accounts(tenant, cursor.after, paging.limit)
    return respond(
        AccountPage(
            data=[AccountOut.of(r) for r in page.items],
            next_token=cursor.next(page.last_key),
            context=PaginationOptions(page_size=paging.limit, sort_order="ASC"),
        )
    )


@router.patch("/accounts/{account_id}", response_model=AccountOut)
async def update_account(
    account_id: PathId, body: UpdateAccountRequest, tenant: TenantDep
) -> WireJSONResponse:
    account = await parties.update_account(tenant, account_id, body.to_changes())
    return respond(AccountOut.of(account))


@router.delete("/accounts/{account_id}", response_model=SuccessResponse)
async def delete_account(account_id: PathId, tenant: TenantDep) -> WireJSONResponse:
    """Delete an account the ledger holds nothing for (409 saying what it holds otherwise)."""
    await parties.delete_account(tenant, account_id)
    return respond(SuccessResponse(success=True))
