"""`EventIngestionApi`: record usage that already happened (`/ingest`, `/ingestBatch`)."""

from __future__ import annotations

from grantledger.client._core import Call, body_of, coerce
from grantledger.client.api._base import Api, Body, C, operation
from grantledger.client.models.event_management import (
    IngestBatchEventRequest,
    IngestEventResponse,
)
from grantledger.client.models.events import IngestEventRequest

__all__ = ["EventIngestionApi"]


def _ingest(
    ingest_event_request: IngestEventRequest | Body | None = None,
) -> Call[IngestEventResponse]:
    """`POST /ingest`: record one event; it draws what its entries cover, the rest is its
    `shortfall` (never refused for lack of units). 202 when recorded.

    Retried on 429/503 only when the event has an `id`: the server answers a repeat of an
    id it recorded as recorded (`details.repeat`), drawing nothing again.
    """
    request = coerce(IngestEventRequest, ingest_event_request)
    keyed = request is not None and request.event is not None and bool(request.event.id)
    return Call(
        "POST",
        "/ingest",
        IngestEventResponse,
        body=body_of(request),
        json_body=True,
        idempotent=keyed,
    )


def _ingest_batch(
    ingest_batch_event_request: IngestBatchEventRequest | Body | None = None,
) -> Call[IngestEventResponse]:
    """`POST /ingestBatch`: up to 1,000 events, judged in order. The answer is returned for
    202 (all recorded) and 207 (some failed: `details.failures` names them), so check
    `success`.

    Retried on 429/503 only when every event has an `id`.
    """
    request = coerce(IngestBatchEventRequest, ingest_batch_event_request)
    keyed = request is not None and bool(request.events) and all(e.id for e in request.events)
    return Call(
        "POST",
        "/ingestBatch",
        IngestEventResponse,
        body=body_of(request),
        json_body=True,
        idempotent=keyed,
    )


class EventIngestionApi(Api[C]):
    """Usage that happened: recorded as far as the entries cover it, the rest a shortfall."""

    ingest = operation(_ingest)
    ingest_batch = operation(_ingest_batch)
