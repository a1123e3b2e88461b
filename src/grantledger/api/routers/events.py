"""Togai's Event Ingestion API (`/ingest`, `/ingestBatch`: usage that happened) and Event
Management API (`/events`: list, get, and correct what was judged)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from grantledger.api.deps import PagingDep, TenantDep, respond
from grantledger.api.jsonio import WireJSONResponse, WireRoute
from grantledger.api.routers.entitlements import event_input
from grantledger.api.schemas.entitlements import IngestEventRequest
from grantledger.api.schemas.events import (
    CorrectionInfoOut,
    CorrectionResponse,
    EventCorrectionRequest,
    EventOut,
    EventPage,
    IngestBatchEventRequest,
    IngestResponse,
    SingleEvent,
)
from grantledger.domain.corrections import Action
from grantledger.domain.errors import InvalidInput
from grantledger.service.entitlements import corrections, event_reads, events
from grantledger.service.entitlements.events import Recorded

router = APIRouter(route_class=WireRoute, tags=["Events"])
EventId = Annotated[str, Path(min_length=1, max_length=50)]
Filter = Annotated[str | None, Query(min_length=1, max_length=50)]


def _recorded(r: Recorded) -> dict[str, Any]:
    shown: dict[str, Any] = {"eventId": r.event_id, "referenceId": r.reference}
    if r.repeat:
        shown["repeat"] = True
    if r.shortfall:
        shown["shortfall"] = r.shortfall
    return shown


@router.post("/ingest", response_model=IngestResponse, status_code=202)
async def ingest(body: IngestEventRequest, tenant: TenantDep) -> WireJSONResponse:
    """Record one event that happened: it draws what its account's entries cover; the rest is
    its shortfall. 202 when recorded (or already recorded under its id), else the error."""
    [done] = await events.record_usage(tenant, [event_input(body)])
    if done.error is not None:
        raise done.error
    message = "event was already recorded" if done.repeat else "event recorded"
    if done.shortfall:
        message = "event recorded; its entries did not cover all of it (shortfall)"
    return respond(
        IngestResponse(success=True, status_code=202, message=message, details=_recorded(done)),
        202,
    )


@router.post(
    "/ingestBatch",
    response_model=IngestResponse,
    status_code=202,
    responses={207: {"model": IngestResponse, "description": "some events were not recorded"}},
)
async def ingest_batch(body: IngestBatchEventRequest, tenant: TenantDep) -> WireJSONResponse:
    """Record up to 1,000 events, judged in order. 202 when every one is recorded, 207 with
    the failures named (index, id, status, message) when some are not."""
    batch = [event_input(IngestEventRequest(event=e)) for e in body.events]
    done = await events.record_usage(tenant, batch)
    failures = [
        {
            "index": i,
            "eventId": r.event_id,
            "statusCode": r.error.status,
            "message": r.error.message,
        }
        for i, r in enumerate(done)
        if r.error is not None
    ]
    shortfalls = [
        {"index": i, **_recorded(r)} for i, r in enumerate(done) if r.error is None and r.shortfall
    ]
    recorded = len(done) - len(failures)
    details = {
        "recorded": recorded,
        "repeats": sum(1 for r in done if r.repeat),
        "failed": len(failures),
        "referenceIds": [r.reference for r in done],
        "shortfalls": shortfalls,
        "failures": failures,
    }
    status = 207 if failures else 202
    message = f"{recorded} of {len(done)} events recorded"
    return respond(
        IngestResponse(success=not failures, status_code=status, message=message, details=details),
        status,
    )


@router.get("/events", response_model=EventPage, responses={204: {"description": "no events"}})
async def get_events(
    tenant: TenantDep,
    paging: PagingDep,
    account_id: Filter = None,
    schema_name: Filter = None,
    status: Filter = None,
) -> Response:
    """The judged events, newest first. A page with no events answers 204 without a body:
    Togai's GetEventsResponse requires at least one event, and the client returns None."""
    cursor = paging.cursor("events", account_id or "", schema_name or "", status or "")
    page = await event_reads.list_events(
        tenant,
        account_id=account_id,
        schema_name=schema_name,
        status=status,
        after=cursor.after,
        limit=paging.limit,
    )
    if not page.items:
        return Response(status_code=204)
    shown = [EventOut.of(e) for e in page.items]
    return respond(EventPage(events=shown, next_token=cursor.next(page.last_key)))


@router.get("/events/{event_id}", response_model=SingleEvent)
async def get_single_event(event_id: EventId, tenant: TenantDep) -> WireJSONResponse:
    """One event by its reference id (the `referenceId` the list shows), in Togai's
    GetEventResponse: a list of the one event."""
    return respond(SingleEvent(events=[EventOut.of(await event_reads.get_event(tenant, event_id))]))


def _action(raw: str) -> Action:
    try:
        return Action(raw)
    except ValueError:
        choices = ", ".join(a.value for a in Action)
        raise InvalidInput(f"action must be one of {choices}, not {raw[:50]!r}") from None


def _flag(raw: str | None) -> bool:
    if raw is None or raw in ("true", "false"):
        return raw == "true"
    raise InvalidInput("require_confirmation must be true or false")


@router.post("/events/correction", response_model=CorrectionResponse)
async def event_correction(
    request: Request,
    body: EventCorrectionRequest,
    tenant: TenantDep,
    action: Annotated[str, Query(min_length=1, max_length=20)],
    require_confirmation: Annotated[str | None, Query(max_length=5)] = None,
) -> WireJSONResponse:
    """UNDO, REDO or REDO_EVENT the account's standing judgement of the event `body.event`
    names (its id and account), synchronously: REVERTED, REVERTED_AND_REINGESTED or FAILED
    with the reason (nothing changed). `require_confirmation` is accepted either way."""
    chosen = _action(action)
    _flag(require_confirmation)
    if body.event is None:
        raise InvalidInput("event is required: its id and accountId name the event to correct")
    grace: timedelta = request.app.state.correction_grace
    named = event_input(IngestEventRequest(event=body.event))
    done = await corrections.correct(tenant, chosen, named, grace, actor="api")
    data = [CorrectionInfoOut.of_correction(done.event, done.outcome.value, done.reason)]
    if done.replacement is not None:
        data.append(
            CorrectionInfoOut.of_correction(
                done.replacement, done.outcome.value, f"replaces {done.event.pk}"
            )
        )
    return respond(CorrectionResponse(data=data))
