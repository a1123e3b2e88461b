"""Liveness, readiness and metrics for operators."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from grantledger.api.errors import error_response
from grantledger.api.jsonio import WireJSONResponse
from grantledger.api.observability import metrics_registry
from grantledger.store.migrate import head_revision

router = APIRouter(tags=["Operations"])


async def _schema_current(request: Request) -> bool:
    try:
        async with request.app.state.ctx.db.engine.connect() as conn:
            row = await conn.execute(sa.text("SELECT version_num FROM alembic_version"))
            return bool(row.scalar_one_or_none() == head_revision())
    except Exception:  # any database failure means "not ready", never a 500
        return False


@router.get("/healthz")
async def healthz(request: Request) -> WireJSONResponse:
    if not await _schema_current(request):
        return error_response(503, "database unreachable or migrations not applied")
    return WireJSONResponse({"status": "ok"})


@router.get("/readyz")
async def readyz(request: Request) -> WireJSONResponse:
    if not getattr(request.app.state, "ready", False) or not await _schema_current(request):
        return error_response(503, "not ready")
    return WireJSONResponse({"status": "ready"})


@router.get("/metrics")
async def metrics() -> Response:
    return Response(generate_latest(metrics_registry()), media_type=CONTENT_TYPE_LATEST)
