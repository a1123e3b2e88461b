"""Shared pieces of every route: the service context, page tokens, wire responses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from pydantic import BaseModel

from grantledger.api.auth import organization
from grantledger.api.jsonio import WireJSONResponse
from grantledger.api.paging import PageTokens, page_size
from grantledger.api.wire import dump
from grantledger.service.context import Audit, Cause, Context, Tenant


def cause_of(scope: Mapping[str, Any]) -> Cause:
    """The request id and the actor the door put on the request's state, and for a mutating
    request its audit row (`api/audit.py`), named by the route that answers it."""
    state = scope.get("state") or {}
    audit: Audit | None = state.get("audit")
    route: Any = scope.get("route")
    if audit is not None and route is not None:
        audit = replace(audit, route=str(route.path)[:200])
    return Cause(request_id=state.get("request_id"), actor=state.get("actor"), audit=audit)


Org = Annotated[str, Depends(organization)]
PathId = Annotated[str, Path(min_length=1, max_length=50)]


# Async on purpose: FastAPI runs a plain `def` dependency in its thread pool, a thread hop per
# request on the hottest path for what is only an attribute read.
async def context(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


async def tenant(request: Request, org_id: Org) -> Tenant:
    """The service context bound to the caller's organization: the one place a tenant is chosen."""
    ctx: Context = request.app.state.ctx
    return ctx.tenant(org_id, cause_of(request.scope))


@dataclass(frozen=True)
class Cursor:
    """Where one list query continues: page tokens are signed for the tenant and the query, so
    a token of another organization or another filter is refused (400)."""

    tokens: PageTokens
    scope: str
    after: str | None

    def next(self, last_key: str | None) -> str | None:
        return self.tokens.encode(self.scope, last_key)


@dataclass(frozen=True)
class Paging:
    """A list request's `nextToken` and `pageSize` (1 to 50, default 50)."""

    tokens: PageTokens
    org_id: str
    token: str | None
    limit: int

    def cursor(self, *query: object) -> Cursor:
        scope = ":".join((self.org_id, *(str(part) for part in query)))
        return Cursor(self.tokens, scope, self.tokens.decode(scope, self.token))


async def paging(
    request: Request,
    org_id: Org,
    next_token: str | None = Query(None, alias="nextToken"),
    size: str | None = Query(None, alias="pageSize"),
) -> Paging:
    page_tokens: PageTokens = request.app.state.tokens
    return Paging(page_tokens, org_id, next_token, page_size(size))


Ctx = Annotated[Context, Depends(context)]
PagingDep = Annotated[Paging, Depends(paging)]
TenantDep = Annotated[Tenant, Depends(tenant)]


def respond(model: BaseModel, status_code: int = 200) -> WireJSONResponse:
    return WireJSONResponse(dump(model), status_code=status_code)
