"""Liveness, readiness and metrics for operators."""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from grantledger.api.backlog import BacklogMetrics, BacklogProbe
from grantledger.api.errors import error_response
from grantledger.api.jsonio import WireJSONResponse
from grantledger.api.observability import metrics_registry
from grantledger.service.context import Context
from grantledger.store.migrate import schema_is_current

router = APIRouter(tags=["Operations"])

# How long /readyz waits for the database before saying "not ready": shorter than the usual
# probe timeout (1 s in Kubernetes), so the probe gets an answer rather than a timeout.
READY_WAIT = 0.8  # float-ok: seconds


class _ReadinessProbe:
    """At most one database check in flight per process, however often /readyz is called.

    A check is never cancelled (cancelling a query mid-flight could leave its connection
    unusable); a caller just stops waiting for it. A check older than READY_WAIT is not joined
    but replaced, so the answer follows a database that comes back within about a second even
    while an earlier check still hangs on a dead connection (the database timeouts end it).
    """

    def __init__(self) -> None:
        self._task: asyncio.Task[bool] | None = None
        self._started = 0.0  # float-ok: a monotonic instant
        # Replaced checks still running: the event loop keeps only weak references to tasks.
        self._running: set[asyncio.Task[bool]] = set()

    async def ready(self, ctx: Context) -> bool:
        now = time.monotonic()
        task = self._task
        if task is None or task.done() or now - self._started > READY_WAIT:
            task = self._task = asyncio.create_task(_schema_current(ctx))
            self._started = now
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        done, _ = await asyncio.wait({task}, timeout=READY_WAIT)
        return task in done and task.result()


async def _schema_current(ctx: Context) -> bool:
    try:
        return await schema_is_current(ctx.db)
    except Exception:  # any database failure means "not ready", never a 500
        return False


@router.get("/healthz")
async def healthz() -> WireJSONResponse:
    """Liveness: the process answers. It asks nothing of the database, so a database outage
    makes the service unready, never "dead" (a restart would not bring the database back)."""
    return WireJSONResponse({"status": "ok"})


@router.get("/readyz")
async def readyz(request: Request) -> WireJSONResponse:
    if not getattr(request.app.state, "ready", False):
        return error_response(503, "not ready: the server is starting or stopping")
    probe = getattr(request.app.state, "readiness", None)
    if probe is None:
        probe = request.app.state.readiness = _ReadinessProbe()
    if not await probe.ready(request.app.state.ctx):
        return error_response(
            503,
            "not ready: the database is unreachable, too slow, or not migrated",
            {"Retry-After": "1"},
        )
    return WireJSONResponse({"status": "ready"})


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    probe = getattr(request.app.state, "backlog", None)
    if probe is None:
        probe = request.app.state.backlog = BacklogProbe()
    backlog = BacklogMetrics(await probe.read(request.app.state.ctx))
    body = generate_latest(metrics_registry()) + generate_latest(backlog)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
