"""Bearer-key authentication at the door: before the body is read, before any route runs.

Every request outside the operator endpoints resolves to exactly one organization here, or is
answered 401 (no valid key) or 429 (too many requests for the key, or too many failed
attempts from the address) without its body ever being read.
"""

from __future__ import annotations

import hmac

from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from grantledger.api.errors import error_response
from grantledger.api.ratelimit import Buckets, retry_after
from grantledger.config import Limits
from grantledger.domain.errors import LedgerError
from grantledger.service.context import Context
from grantledger.service.operations import tenants
from grantledger.service.operations.attempts import Attempts

# Operator endpoints and the API's own description answer without a key; the console has a
# door of its own (a session cookie, see console/guard.py).
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/console"})
PUBLIC_PREFIXES = ("/docs/", "/console/")
# Public unless GRANTLEDGER_METRICS_TOKEN is set; then it wants that token as its bearer key.
METRICS = "/metrics"


class Unauthorized(LedgerError):
    """No valid API key (401). Only the API's door raises it."""

    status = 401


def _authorization(scope: Scope) -> tuple[list[bytes], dict[bytes, bytes]]:
    """Every Authorization header of the request (a dict would keep only the last one)."""
    raw = scope.get("headers") or []
    return [value for name, value in raw if name == b"authorization"], dict(raw)


def _bearer(header: bytes | None) -> tuple[str | None, str]:
    """The key, or None and what is wrong with the header."""
    if not header:
        return None, "missing Authorization header; send 'Authorization: Bearer <api key>'"
    scheme, _, key = header.decode("latin-1").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None, "Authorization must be 'Bearer <api key>'"
    return key.strip(), ""


class Authenticate:
    """Pure ASGI middleware: resolve the key, charge the buckets, then let the request in.

    The key is judged the same way whatever the path: a path that names no endpoint answers 404
    only to a valid key, and a wrong key there is a failure like anywhere else. Failures are
    charged to the client's address in the brake the console shares (service/operations/
    attempts.py): once they are spent, most keys get 429 without being looked up.
    """

    def __init__(
        self,
        app: ASGIApp,
        ctx: Context,
        limits: Limits,
        attempts: Attempts,
        metrics_token: str | None = None,
    ) -> None:
        self.app = app
        self.ctx = ctx
        self.metrics_token = metrics_token
        self.per_key = Buckets(limits.rate_limit)
        self.attempts = attempts
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given, headers = _authorization(scope)
        if len(given) > 1:
            # Proxies and frameworks disagree on which of two wins; neither is guessed at.
            message = "send one Authorization header; this request has several"
            await self._refuse(scope, receive, send, headers, 400, message)
            return
        path = scope.get("path", "")
        key, problem = _bearer(given[0] if given else None)
        address = (scope.get("client") or ("unknown",))[0]
        if path == METRICS and self.metrics_token is not None:
            await self._metrics(scope, receive, send, headers, key, problem, address)
            return
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, send)
            return
        wait = self.attempts.may_look_up(address, key)
        if wait:
            await self._too_many_failures(scope, receive, send, headers, wait)
            return
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
        if org_id is None:
            wait = self.attempts.failed(address)
            if wait:
                await self._too_many_failures(scope, receive, send, headers, wait)
                return
            await self._refuse(scope, receive, send, headers, 401, problem or "unknown API key")
            return
        assert key is not None
        self.attempts.accepted(key)
        wait = self.per_key.take(key)
        if wait:
            rate = self.limits.rate_limit.per_second * self.limits.workers
            message = f"rate limit of {rate:g} requests per second for this API key exceeded"
            await self._refuse(scope, receive, send, headers, 429, message, wait)
            return
        state = scope.setdefault("state", {})
        state["org_id"] = org_id
        # The key's prefix (never secret: `keys list` shows it) names the actor in the journal.
        state["actor"] = f"key:{key[: tenants.PREFIX_LENGTH]}"
        await self.app(scope, receive, send)

    async def _metrics(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: dict[bytes, bytes],
        key: str | None,
        problem: str,
        address: str,
    ) -> None:
        """The scrape token, judged like a key: a wrong one is a failure of the address."""
        assert self.metrics_token is not None
        if key is not None and hmac.compare_digest(key.encode(), self.metrics_token.encode()):
            await self.app(scope, receive, send)
            return
        wait = self.attempts.failed(address)
        if wait:
            await self._too_many_failures(scope, receive, send, headers, wait)
            return
        message = problem or "wrong metrics token (GRANTLEDGER_METRICS_TOKEN)"
        await self._refuse(scope, receive, send, headers, 401, message)

    async def _too_many_failures(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: dict[bytes, bytes],
        wait: float,  # float-ok: seconds
    ) -> None:
        message = "too many failed authentications from this address; retry later"
        await self._refuse(scope, receive, send, headers, 429, message, wait)

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
