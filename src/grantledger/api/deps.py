"""Shared pieces of every route: the service context, page tokens, wire responses."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from pydantic import BaseModel

from grantledger.api.auth import organization
from grantledger.api.jsonio import WireJSONResponse
from grantledger.api.paging import PageTokens
from grantledger.api.wire import dump
from grantledger.service.context import Context, Tenant

Org = Annotated[str, Depends(organization)]
PathId = Annotated[str, Path(min_length=1, max_length=50)]


# Async on purpose: FastAPI runs a plain `def` dependency in its thread pool, a thread hop per
# request on the hottest path for what is only an attribute read.
async def context(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


async def tokens(request: Request) -> PageTokens:
    page_tokens: PageTokens = request.app.state.tokens
    return page_tokens


async def tenant(request: Request, org_id: Org) -> Tenant:
    """The service context bound to the caller's organization: the one place a tenant is chosen."""
    ctx: Context = request.app.state.ctx
    return ctx.tenant(org_id)


Ctx = Annotated[Context, Depends(context)]
TenantDep = Annotated[Tenant, Depends(tenant)]
Tokens = Annotated[PageTokens, Depends(tokens)]


def respond(model: BaseModel, status_code: int = 200) -> WireJSONResponse:
    return WireJSONResponse(dump(model), status_code=status_code)
