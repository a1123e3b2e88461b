"""Request ids, one structured log line per request, and Prometheus metrics.

Under `grantledger serve` every worker writes its samples to PROMETHEUS_MULTIPROC_DIR and a
scrape (answered by any one worker) adds them all up; without it (an app built in-process)
the process's own registry is read.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from decimal import Decimal
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from starlette.routing import Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from grantledger.api.errors import error_response, internal_error
from grantledger.api.route_templates import RouteTemplates

log = logging.getLogger("grantledger.access")

REQUESTS = Counter(
    "grantledger_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
LATENCY = Histogram(
    "grantledger_http_request_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)

GATE = Counter(
    "grantledger_gate_decisions_total",
    "POST /entitled answers: accepted (200), refused (403), duplicate (409), or error",
    ["decision"],
)
DB_ERRORS = Counter(
    "grantledger_database_errors_total",
    "Errors raised by the database driver, by kind (timeout, disconnect, other)",
    ["kind"],
)
POOL_IN_USE = Gauge(
    "grantledger_db_pool_connections_in_use",
    "Database connections checked out of the pool, summed over live workers",
    multiprocess_mode="livesum",
)
POOL_CHECKOUTS = Counter(
    "grantledger_db_pool_checkouts_total",
    "Database connections taken from the pool (one per transaction, roughly)",
)
SWEEP_SUCCESS = Gauge(
    "grantledger_sweeper_last_success_timestamp_seconds",
    "Unix time of the newest sweep that finished without error (alert on its age)",
    multiprocess_mode="max",
)
CREDITS_GRANTED = Counter(
    "grantledger_credits_granted_total",
    "Credits created by POST /credits once their transaction committed (replays not counted)",
)
DELIVERIES = Counter(
    "grantledger_webhook_deliveries_total",
    "Webhook delivery attempts by outcome: delivered (2xx), retrying (another attempt is "
    "scheduled), failed (no attempt left, or the endpoint is disabled or gone)",
    ["outcome"],
)
LAGGING_READS = Counter(
    "grantledger_db_lagging_reads_total",
    "Reads that may lag (lists, history, asOf well in the past) by where they were served: "
    "primary, or a replica by host:port/database",
    ["target"],
)
REPLICA_SKIPS = Counter(
    "grantledger_db_replica_skips_total",
    "Lagging reads a replica did not serve: lag (behind GRANTLEDGER_READ_MAX_LAG_MS, or not "
    "streaming), unreachable (left alone 5 s), or error (the replica gave up the read)",
    ["replica", "reason"],
)
REPLICA_LAG = Gauge(
    "grantledger_db_replica_lag_seconds",
    "The lag a replica was last measured at (-1: cannot be told: not streaming, or promoted)",
    ["replica"],
    multiprocess_mode="livemax",
)
FEATURE_HOLDS = Counter(
    "grantledger_feature_holds_total",
    "Feature holds by what happened to them, counted once their transaction committed: "
    "placed, settled, released, expired (when the expiry was written)",
    ["outcome"],
)
FEATURE_HOLD_SHORTFALL = Counter(
    "grantledger_feature_hold_shortfall_units_total",
    "Units settled beyond what the entries covered (recorded as shortfallUnits), all features",
)
_GATE_DECISIONS = {200: "accepted", 403: "refused", 409: "duplicate"}


def metrics_registry() -> CollectorRegistry:
    """The registry a scrape reads: every worker's samples when serving several processes."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return registry


class DatabaseMetrics:
    """Driver errors by kind and connections in use, as the store reports them."""

    def error(self, kind: str) -> None:
        DB_ERRORS.labels(kind).inc()

    def checkout(self) -> None:
        POOL_CHECKOUTS.inc()
        POOL_IN_USE.inc()

    def checkin(self) -> None:
        POOL_IN_USE.dec()

    def read(self, target: str) -> None:
        LAGGING_READS.labels(target).inc()

    def skipped(self, replica: str, reason: str) -> None:
        REPLICA_SKIPS.labels(replica, reason).inc()

    def lag(self, replica: str, milliseconds: float | None) -> None:  # float-ok: ms
        REPLICA_LAG.labels(replica).set(-1 if milliseconds is None else milliseconds / 1000)


class ServiceCounters:
    """What the use cases count (`service.counters`), as Prometheus counters."""

    def credits_granted(self, count: int) -> None:
        CREDITS_GRANTED.inc(count)

    def delivery(self, outcome: str) -> None:
        DELIVERIES.labels(outcome).inc()

    def feature_holds(self, outcome: str, count: int = 1) -> None:
        if count:
            FEATURE_HOLDS.labels(outcome).inc(count)

    def feature_hold_shortfall(self, units: Decimal) -> None:
        FEATURE_HOLD_SHORTFALL.inc(float(units))  # float-ok: a metric, not the ledger


class RequestContext:
    """Pure ASGI middleware (no per-request task switch, unlike BaseHTTPMiddleware)."""

    def __init__(self, app: ASGIApp, router: Router | None = None) -> None:
        self.app = app
        self.templates = RouteTemplates(router) if router is not None else None

    def _template(self, scope: Scope, path: str, root_path: str) -> str:
        route: Any = scope.get("route")
        if route is not None:
            return str(route.path)
        # Refused at the door (401, 429), or a plain Starlette route that leaves no `route` in
        # the scope, or a mount that rewrote the path: match the request as it came in.
        found = None
        if self.templates is not None:
            found = self.templates.template(scope["method"], path, root_path)
        return found or "unmatched"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or uuid.uuid4().hex
        # The catch-all error handler quotes this id, so it must see the generated one too.
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        path, root_path = scope["path"], scope.get("root_path", "")
        status = 500
        started_response = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                started_response = True
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            if "\x00" in scope["path"] or b"%00" in scope.get("query_string", b""):
                # PostgreSQL text cannot hold NUL: refuse it here, the same on every backend.
                response = error_response(400, "the URL must not contain NUL (%00) characters")
                await response(scope, receive, send_with_id)
                return
            await self.app(scope, receive, send_with_id)
        except Exception:
            if started_response:
                raise
            # Answered here rather than by the framework's outermost handler, which re-raises
            # to the server: uvicorn then drops the keep-alive connection under the client.
            response = internal_error(scope["method"], scope["path"], request_id)
            await response(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            template = self._template(scope, path, root_path)
            REQUESTS.labels(scope["method"], template, str(status)).inc()
            LATENCY.labels(scope["method"], template).observe(elapsed)
            if template == "/entitled" and scope["method"] == "POST":
                GATE.labels(_GATE_DECISIONS.get(status, "error")).inc()
            if log.isEnabledFor(logging.INFO):
                log.info(
                    "%s %s %s",
                    scope["method"],
                    scope["path"],
                    status,
                    extra={
                        "request_id": request_id,
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "ms": round(elapsed * 1000, 2),
                        "org": (scope.get("state") or {}).get("org_id"),
                    },
                )
