"""The application factory: one FastAPI app per process, sharing the database with the others."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace

from fastapi import FastAPI

from grantledger import __version__
from grantledger.api import docs, errors, openapi
from grantledger.api.audit import AuditTrail
from grantledger.api.auth import Authenticate
from grantledger.api.content_type import JsonBodies
from grantledger.api.fairness import FairShares
from grantledger.api.gate_door import GateDoor
from grantledger.api.jsonio import WireJSONResponse
from grantledger.api.observability import (
    SWEEP_SUCCESS,
    DatabaseMetrics,
    RequestContext,
    ServiceCounters,
)
from grantledger.api.paging import PageTokens
from grantledger.api.paths import CollapseSlashes
from grantledger.api.proxies import TrustedProxies
from grantledger.api.routers import (
    books,
    catalog,
    credits,
    entitlements,
    events,
    feature_holds,
    health,
    holds,
    parties,
)
from grantledger.clock import Clock, clock_from_env
from grantledger.config import Settings
from grantledger.console import routes as console
from grantledger.logs import configure as configure_logs
from grantledger.server.webhook_wiring import ROUTERS, webhooks_running
from grantledger.service import counters
from grantledger.service.context import Context
from grantledger.service.operations import attempts, sweeper, tenants
from grantledger.store.database import Database


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    configure_logs(settings.log_level)
    options = replace(settings.database, application_name="grantledger serve")
    database = Database(settings.database_url, options, settings.replicas)
    ctx = Context(database, clock or clock_from_env())
    metrics = DatabaseMetrics()
    ctx.db.watch(metrics)
    ctx.db.watch_reads(metrics)
    counters.install(ServiceCounters())

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.tokens = PageTokens(await tenants.server_secret(ctx, "page-tokens"))
        task = None
        if settings.sweep_interval_seconds > 0:
            task = asyncio.create_task(
                sweeper.run_forever(ctx, settings.sweep_interval_seconds, _sweep_succeeded)
            )
        app.state.ready = True
        try:
            async with webhooks_running(app, ctx, settings.webhooks):
                yield
        finally:
            app.state.ready = False
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await ctx.db.dispose()

    app = FastAPI(
        title="grantledger",
        version=__version__,
        description="Credits and entitlements ledger speaking Togai's wire format.",
        default_response_class=WireJSONResponse,
        lifespan=lifespan,
        # Both would load their scripts from a CDN; /docs is served from local files instead.
        docs_url=None,
        redoc_url=None,
    )
    app.state.ctx = ctx
    app.state.correction_grace = settings.correction_grace
    errors.install(app)
    docs.install(app)
    openapi.install(app)
    for module in (
        health,
        parties,
        credits,
        holds,
        catalog,
        entitlements,
        events,
        feature_holds,
        books,
    ):
        app.include_router(module.router)
    for extra in ROUTERS:
        app.include_router(extra)
    console.install(app)
    # Outermost last: the request id and the access log cover the door's 401s and 429s too.
    app.add_middleware(AuditTrail, ctx=ctx)
    app.add_middleware(GateDoor, ctx=ctx)
    limit, share = settings.limits.in_flight_slots(settings.database)
    app.add_middleware(FairShares, limit=limit, share=share, wait=settings.database.pool_timeout)
    # Inside the door: an unauthenticated request is told 401 first, whatever its body.
    app.add_middleware(JsonBodies)
    app.add_middleware(
        Authenticate,
        ctx=ctx,
        limits=settings.limits,
        # One brake on failed keys per process, shared with the console's sign-in.
        attempts=attempts.install(settings.limits.auth_failure_limit),
        metrics_token=settings.metrics_token,
    )
    app.add_middleware(RequestContext, router=app.router)
    app.add_middleware(CollapseSlashes)
    # Outermost: the client, scheme and host a trusted proxy forwarded are what all else sees.
    app.add_middleware(TrustedProxies, networks=settings.limits.trusted_proxies)
    return app


def _sweep_succeeded() -> None:
    SWEEP_SUCCESS.set_to_current_time()


def factory() -> FastAPI:
    """Entry point for uvicorn's `--factory` (each worker process builds its own app)."""
    return create_app()
