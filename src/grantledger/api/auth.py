"""Bearer-key authentication: every request resolves to exactly one organization."""

from __future__ import annotations

from fastapi import Request

from grantledger.domain.errors import LedgerError
from grantledger.service import tenants


class Unauthorized(LedgerError):
    """No valid API key (401). Only the API's door raises it."""

    status = 401


async def organization(request: Request) -> str:
    """FastAPI dependency: the caller's organization id, or 401."""
    header = request.headers.get("authorization")
    if not header:
        raise Unauthorized("missing Authorization header; send 'Authorization: Bearer <api key>'")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized("Authorization must be 'Bearer <api key>'")
    org_id = await tenants.authenticate(request.app.state.ctx, key.strip())
    if org_id is None:
        raise Unauthorized("unknown API key")
    request.state.org_id = org_id
    return org_id
