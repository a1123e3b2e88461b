"""Every mutating API request leaves one audit row (docs/api.md, "The audit log").

This middleware sits inside `Authenticate` (the organization and the key are known). It gives
the request its audit id and the parts of its row the door knows; the route's `TenantDep` adds
the route template, and every transaction of the use case writes the row with its change (the
first to commit holds it). After the answer, the row of a request none of whose transactions
committed — a refusal — is written with its status. Both meet on the audit id: one row each.

`/entitled` is group-committed: the batch that decides a request's event writes its row, with
the status it answers (the fast path, `api/gate_door.py`, gives the request its audit before
this middleware). `/ingest` and `/ingestBatch` are group-committed too; their row is written
after the answer, with its status.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from grantledger.service.books import audit
from grantledger.service.context import Audit, Context

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
log = logging.getLogger("grantledger.audit")


def started_audit(scope: Scope, at: Any) -> Audit:
    state = scope["state"]
    client = scope.get("client")
    return Audit(
        audit_id=uuid.uuid4().hex,
        at=at,
        actor=str(state.get("actor") or "unknown"),
        method=scope["method"],
        route=scope["path"][:200],
        path=scope["path"][:1000],
        request_id=state.get("request_id"),
        address=str(client[0])[:100] if client else None,
    )


class AuditTrail:
    def __init__(self, app: ASGIApp, ctx: Context) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope.get("state") or {}
        if scope["type"] != "http" or scope["method"] not in MUTATING or "org_id" not in state:
            await self.app(scope, receive, send)
            return
        started = started_audit(scope, self.ctx.now())
        state["audit"] = started
        status = [500]

        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watched)
        finally:
            # A transaction of the request that committed wrote its row with its change.
            if not started.committed:
                await self._answered(scope, state["org_id"], started, status[0])

    async def _answered(self, scope: Scope, org_id: str, started: Audit, status: int) -> None:
        route: Any = scope.get("route")
        template = str(route.path)[:200] if route is not None else started.route
        try:
            await audit.record_answer(self.ctx, org_id, replace(started, route=template), status)
        except Exception as failure:  # the answer is sent: the log says what is missing
            log.error(
                "audit row of request %s not written after its answer: %s",
                started.request_id,
                type(failure).__name__,
            )
