"""Togai's Alerts API: templates, alerts, incidents. Evaluated on every ledger change."""

from __future__ import annotations

from fastapi import APIRouter, Query

from grantledger.api.deps import PagingDep, PathId, TenantDep, respond
from grantledger.api.jsonio import WireJSONResponse, WireRoute
from grantledger.api.schemas.alerts import (
    AlertOut,
    AlertPage,
    AlertTemplateOut,
    AlertTemplatePage,
    CreateAlertRequest,
    IncidentOut,
    IncidentPage,
    UpdateAlertRequest,
    UpdateIncidentStatusRequest,
)
from grantledger.domain.alerts import TEMPLATES
from grantledger.domain.errors import NotFound
from grantledger.service.notifications import alerts

router = APIRouter(route_class=WireRoute, tags=["Alerts"])


@router.get("/alert_templates", response_model=AlertTemplatePage)
async def list_templates(tenant: TenantDep) -> WireJSONResponse:
    return respond(AlertTemplatePage(data=[AlertTemplateOut.of(t) for t in TEMPLATES.values()]))


@router.get("/alert_templates/{template_id}", response_model=AlertTemplateOut)
async def get_template(template_id: PathId, tenant: TenantDep) -> WireJSONResponse:
    template = TEMPLATES.get(template_id)
    if template is None:
        raise NotFound(f"alert template {template_id} not found")
    return respond(AlertTemplateOut.of(template))


@router.post("/alerts", response_model=AlertOut)
async def create_alert(body: CreateAlertRequest, tenant: TenantDep) -> WireJSONResponse:
    """200, not 201: the official client reads a body only on 200."""
    return respond(AlertOut.of(await alerts.create(tenant, body.to_input())))


@router.get("/alerts", response_model=AlertPage)
async def list_alerts(
    tenant: TenantDep,
    paging: PagingDep,
) -> WireJSONResponse:
    cursor = paging.cursor("alerts")
    page = await alerts.list_alerts(tenant, cursor.after, paging.limit)
    return respond(
        AlertPage(
            data=[AlertOut.of(a) for a in page.items],
            next_token=cursor.next(page.last_key),
        )
    )


@router.get("/alerts/{alert_id}", response_model=AlertOut)
async def get_alert(alert_id: PathId, tenant: TenantDep) -> WireJSONResponse:
    return respond(AlertOut.of(await alerts.get(tenant, alert_id)))


@router.patch("/alerts/{alert_id}", response_model=AlertOut)
async def update_alert(
    alert_id: PathId, body: UpdateAlertRequest, tenant: TenantDep
) -> WireJSONResponse:
    return respond(AlertOut.of(await alerts.change(tenant, alert_id, body.to_change())))


@router.get("/incidents", response_model=IncidentPage)
async def list_incidents(
    tenant: TenantDep,
    paging: PagingDep,
    alert_id: str | None = Query(None, alias="alertId", max_length=50),
    status: str | None = Query(None, max_length=20),
) -> WireJSONResponse:
    cursor = paging.cursor("incidents", alert_id, status)
    page = await alerts.list_incidents(
        tenant,
        cursor.after,
        paging.limit,
        alert_id=alert_id,
        status=status,
    )
    return respond(
        IncidentPage(
            data=[IncidentOut.of(i) for i in page.items],
            next_token=cursor.next(page.last_key),
        )
    )


@router.get("/incidents/{incident_id}", response_model=IncidentOut)
async def get_incident(incident_id: PathId, tenant: TenantDep) -> WireJSONResponse:
    return respond(IncidentOut.of(await alerts.get_incident(tenant, incident_id)))


@router.put("/incidents/{incident_id}/status", response_model=IncidentOut)
async def update_incident_status(
    incident_id: PathId, body: UpdateIncidentStatusRequest, tenant: TenantDep
) -> WireJSONResponse:
    return respond(IncidentOut.of(await alerts.close_incident(tenant, incident_id)))
