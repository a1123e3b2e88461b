"""The five Credits operations of Togai's API, plus `asOf` on the balance."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from grantledger.api.deps import PagingDep, PathId, TenantDep, respond
from grantledger.api.jsonio import WireJSONResponse, WireRoute
from grantledger.api.schemas.credits import (
    CreateCreditRequest,
    CreateCreditResponse,
    CreditBalanceResponse,
    CreditDetailsResponse,
    CreditOut,
    CreditTransactionOut,
    ListCreditsResponse,
)
from grantledger.api.wire import parse_as_of
from grantledger.service.credits import credits

router = APIRouter(route_class=WireRoute, tags=["Credits"])


@router.post("/credits", response_model=CreateCreditResponse)
async def create_credit(body: CreateCreditRequest, tenant: TenantDep) -> WireJSONResponse:
    records = await credits.grant(tenant, [r.to_grant() for r in body.credit_requests])
    today = tenant.now().date()
    return respond(CreateCreditResponse(credits=[CreditOut.of(r, today) for r in records]))


@router.get("/credits/{credit_id}", response_model=CreditDetailsResponse)
async def get_credit_details(credit_id: PathId, tenant: TenantDep) -> WireJSONResponse:
    record, transactions = await credits.credit_details(tenant, credit_id)
    out = CreditDetailsResponse(
        **CreditOut.of(record, tenant.now().date()).model_dump(),
        transactions=[CreditTransactionOut.of(t) for t in transactions],
    )
    return respond(out)


@router.get("/credits", response_model=ListCreditsResponse)
async def list_credits(
    tenant: TenantDep,
    paging: PagingDep,
    status: str | None = Query(None),
    account_id: Annotated[str | None, Query(max_length=50)] = None,
    credit_id: Annotated[str | None, Query(alias="id", max_length=50)] = None,
) -> WireJSONResponse:
    cursor = paging.cursor("credits", status, account_id, credit_id)
    page = await credits.list_credits(
        tenant,
        status=status,
        account_id=account_id,
        credit_id=credit_id,
        after=cursor.after,
        limit=paging.limit,
    )
    today = tenant.now().date()
    return respond(
        ListCreditsResponse(
            data=[CreditOut.of(r, today) for r in page.items],
            next_token=cursor.next(page.last_key),
        )
    )


@router.post("/credits/{credit_id}/void", response_model=CreditOut)
async def void_credit(credit_id: PathId, tenant: TenantDep) -> WireJSONResponse:
    record = await credits.void(tenant, credit_id)
    return respond(CreditOut.of(record, tenant.now().date()))


@router.get("/accounts/{account_id}/credit_balance", response_model=CreditBalanceResponse)
async def credit_balance_for_account(
    account_id: PathId,
    tenant: TenantDep,
    as_of: str | None = Query(None, alias="asOf", description="a past instant (extension)"),
) -> WireJSONResponse:
    instant = parse_as_of(as_of)
    balance = await credits.account_balance(tenant, account_id, instant)
    return respond(CreditBalanceResponse.of(balance))
