"""Bearer-key authentication at the door: before the body is read, before any route runs.

Every request outside the operator endpoints resolves to exactly one organization here, or is
answered 401 (no valid key) or 429 (too many requests for the key, or too many failed
attempts from the address) without its body ever being read.
"""

from __future__ import annotations

from fastapi import Request
from starlette.routing import Router
from starlette.types import ASGIApp, Receive, Scope, Send

from grantledger.api.errors import error_response
from grantledger.api.ratelimit import Buckets, retry_after
from grantledger.api.route_templates import RouteTemplates
from grantledger.config import Limits
from grantledger.domain.errors import LedgerError
from grantledger.service.context import Context
from grantledger.service.operations import tenants

# Operator endpoints and the API's own description answer without a key; the console has a
# door of its own (a session cookie, see console/guard.py).
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/console"})
PUBLIC_PREFIXES = ("/docs/", "/console/")


class Unauthorized(LedgerError):
    """No valid API key (401). Only the API's door raises it."""

    status = 401


def _bearer(headers: dict[bytes, bytes]) -> tuple[str | None, str]:
    """The key, or None and what is wrong with the header."""
    header = headers.get(b"authorization")
    if not header:
        return None, "missing Authorization header; send 'Authorization: Bearer <api key>'"
    scheme, _, key = header.decode("latin-1").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None, "Authorization must be 'Bearer <api key>'"
    return key.strip(), ""


class Authenticate:
    """Pure ASGI middleware: resolve the key, charge the buckets, then let the request in."""

    def __init__(self, app: ASGIApp, ctx: Context, limits: Limits, router: Router) -> None:
        self.app = app
        self.routes = RouteTemplates(router)
        self.ctx = ctx
        self.per_key = Buckets(limits.rate_limit)
        self.failures = Buckets(limits.auth_failure_limit)
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        key, problem = _bearer(headers)
        try:
            org_id = await tenants.authenticate(self.ctx, key) if key else None
        except LedgerError as error:
            # Raised here, outside the app's exception handlers (e.g. the database away: 503).
            await self._refuse(
                scope,
                receive,
                send,
                headers,
                error.status,
                error.message,
                error.retry_after_seconds or 0,
            )
            return
        if org_id is None and not self._routed(scope):
            # No such endpoint: the app's 404 says so, key or not; no failure is charged.
            await self.app(scope, receive, send)
            return
        if org_id is None:
            address = (scope.get("client") or ("unknown",))[0]
            wait = self.failures.take(address)
            if wait:
                message = "too many failed authentications from this address; retry later"
                await self._refuse(scope, receive, send, headers, 429, message, wait)
                return
            await self._refuse(scope, receive, send, headers, 401, problem or "unknown API key")
            return
        wait = self.per_key.take(key or "")
        if wait:
            rate = self.limits.rate_limit.per_second * self.limits.workers
            message = f"rate limit of {rate:g} requests per second for this API key exceeded"
            await self._refuse(scope, receive, send, headers, 429, message, wait)
            return
        scope.setdefault("state", {})["org_id"] = org_id
        await self.app(scope, receive, send)

    def _routed(self, scope: Scope) -> bool:
        return self.routes.routed(scope)

    async def _refuse(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: dict[bytes, bytes],
        status: int,
        message: str,
        wait: float = 0.0,  # float-ok: seconds
    ) -> None:
        response = error_response(status, message)
        if wait:
            response.headers["Retry-After"] = str(retry_after(wait))
        if headers.get(b"content-length", b"0") != b"0" or b"transfer-encoding" in headers:
            # The body is never read; closing spares reading and parsing whatever is coming.
            response.headers["Connection"] = "close"
        await response(scope, receive, send)


async def organization(request: Request) -> str:
    """FastAPI dependency: the caller's organization id, resolved by `Authenticate`, or 401."""
    org_id = getattr(request.state, "org_id", None)
    if org_id is None:
        # Only reachable if the app was built without the door; refuse rather than guess.
        raise Unauthorized("missing Authorization header; send 'Authorization: Bearer <api key>'")
    return str(org_id)
