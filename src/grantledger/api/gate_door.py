"""`POST /entitled` answered without the framework's routing, for the requests that are valid.

The gate is the one endpoint called on every request of the customer's own product, and the
framework's path (route matching over every route, dependency resolution, four wrapping
middlewares) cost about a tenth of the server's CPU per event (docs/benchmarks.md). This
middleware sits inside the door (`Authenticate` has resolved the organization and charged the
rate limit; `RequestContext` counts, logs and ids the request) and answers a well-formed,
valid event itself, through the same request model and the same service call as the route
(`routers/entitlements.py`). A body not declared as JSON never gets here (api/content_type.py:
415, the rule of every route). Everything else — a query string, a body that is not JSON, an
invalid event — is handed to the route with its body replayed, so every refusal is the route's
own, word for word.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from grantledger.api.audit import started_audit
from grantledger.api.content_type import declared_type, is_json
from grantledger.api.errors import ledger_error_response
from grantledger.api.jsonio import MAX_BODY_BYTES, loads
from grantledger.api.routers.entitlements import event_input
from grantledger.api.schemas.entitlements import IngestEventRequest
from grantledger.domain.errors import LedgerError
from grantledger.service.context import Cause, Context
from grantledger.service.entitlements import events

PATH = "/entitled"
_ACCEPTED = b'{"success":true}'
_ACCEPTED_HEADERS = [
    (b"content-length", str(len(_ACCEPTED)).encode()),
    (b"content-type", b"application/json"),
]


@dataclass(frozen=True)
class _Template:
    """What `RequestContext` reads of a routed request's route: its path template."""

    path: str


_ROUTE = _Template(PATH)


class GateDoor:
    """Pure ASGI middleware: valid `POST /entitled` events straight to the service."""

    def __init__(self, app: ASGIApp, ctx: Context) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != PATH
            or scope["method"] != "POST"
            # The route takes no query parameter: it answers one with its 400.
            or scope.get("query_string")
            or not is_json(declared_type(scope["headers"]))
        ):
            await self.app(scope, receive, send)
            return
        body, complete = await _read(receive)
        request = _valid(body) if complete and len(body) <= MAX_BODY_BYTES else None
        if request is None:
            await self.app(scope, _replay(body, complete, receive), send)
            return
        # Left in the scope as the framework's routing would, so metrics name the route.
        scope["route"] = _ROUTE
        state = scope["state"]
        org_id = state["org_id"]  # set by Authenticate, which every API request passes
        # Its audit row is written by the batch that answers it (`AuditTrail` is inside).
        audit = replace(started_audit(scope, self.ctx.now()), route=PATH)
        cause = Cause(state.get("request_id"), audit.actor, audit)
        try:
            await events.ingest_entitled(self.ctx.tenant(org_id, cause), event_input(request))
        except LedgerError as error:
            await ledger_error_response(error)(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 200, "headers": _ACCEPTED_HEADERS})
        await send({"type": "http.response.body", "body": _ACCEPTED})


def _valid(body: bytes) -> IngestEventRequest | None:
    # Whatever fails here, the route fails the same way and answers it: it is the authority
    # on every refusal (and on any fault, which it answers 500 with a request id).
    try:
        value: Any = loads(body)
        if not isinstance(value, dict):
            return None
        return IngestEventRequest.model_validate(value)
    except Exception:
        return None


async def _read(receive: Receive) -> tuple[bytes, bool]:
    """The body, and whether it is whole. Reading stops past the route's own bound: the route,
    given what was read and the rest, answers 413 as it would have."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away: the route hears it too
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        size += len(chunk)
        chunks.append(chunk)
        if size > MAX_BODY_BYTES:
            return b"".join(chunks), not message.get("more_body", False)
        if not message.get("more_body", False):
            return b"".join(chunks), True


def _replay(body: bytes, complete: bool, receive: Receive) -> Receive:
    """A `receive` that gives the route the body read so far, then the rest as it comes."""
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": not complete}
        return dict(await receive())

    return replay
