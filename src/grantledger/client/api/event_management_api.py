"""`EventManagementApi`: the judged events, one or page after page, and their corrections."""

from __future__ import annotations

from grantledger.client._core import Call, body_of, coerce, path, query
from grantledger.client.api._base import Api, Body, C, operation, pager
from grantledger.client.models.event_management import (
    CorrectionAction,
    EventCorrectionRequest,
    EventsCorrectionResponse,
    GetEventResponse,
    GetEventsResponse,
)

__all__ = ["EventManagementApi"]


def _get_events(
    next_token: str | None = None,
    status: str | None = None,
    account_id: str | None = None,
    schema_name: str | None = None,
    page_size: int | None = None,
) -> Call[GetEventsResponse]:
    """`GET /events`: one page (at most `page_size`, 50 by default) of the events `/entitled`
    and `/ingest` judged, newest first. Nothing matching → an empty page (the server's 204)."""
    return Call(
        "GET",
        "/events",
        GetEventsResponse,
        # `account_id` and `schema_name` are snake_case on the wire, the paging names are not.
        query=query(
            nextToken=next_token,
            status=status,
            account_id=account_id,
            schema_name=schema_name,
            pageSize=page_size,
        ),
        idempotent=True,
    )


def _get_single_event(event_id: str) -> Call[GetEventResponse]:
    """`GET /events/{event_id}` by the event's `reference_id` (`.event` is the one event)."""
    return Call("GET", path("/events/{e}", e=event_id), GetEventResponse, idempotent=True)


def _event_correction(
    action: CorrectionAction,
    require_confirmation: bool | None = None,
    event_correction_request: EventCorrectionRequest | Body | None = None,
) -> Call[EventsCorrectionResponse]:
    """`POST /events/correction`: UNDO (give every unit the event drew back, as appended
    reversals), REDO (judge the same payload again now) or REDO_EVENT (judge the corrected
    payload given) the account's standing judgement of the event named by `id` and
    `account_id`. The answer's `status` is REVERTED, REVERTED_AND_REINGESTED or FAILED with
    its `reason` (a FAILED correction changed nothing). Corrections are synchronous;
    `require_confirmation` is sent as given and changes nothing.

    Only an UNDO is retried on 429/503: a repeat cannot revert twice (it answers FAILED,
    "already reverted"). A repeated REDO would judge the event once more, so it is not.
    """
    request = coerce(EventCorrectionRequest, event_correction_request)
    return Call(
        "POST",
        "/events/correction",
        EventsCorrectionResponse,
        query=query(action=action, require_confirmation=require_confirmation),
        body=body_of(request),
        json_body=True,
        idempotent=action == "UNDO",
    )


class EventManagementApi(Api[C]):
    """The events list (`get_events`, `iter_events`), one event, and corrections."""

    get_events = operation(_get_events)
    iter_events = pager(_get_events)
    get_single_event = operation(_get_single_event)
    event_correction = operation(_event_correction)
