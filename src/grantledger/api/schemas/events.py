"""Wire shapes of the Event Management and Event Ingestion APIs (`togai_client.models`:
EventWithStatusAndEventPipelineInfo, GetEventsResponse, EventsCorrectionResponse,
IngestBatchEventRequest, IngestEventResponse), with this ledger's extensions (what each event
drew, and the shortfall of an ingested one) where the wire allows extra fields."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field

from grantledger.api.schemas.entitlements import EventRequest
from grantledger.api.wire import Amount, RequestModel, ResponseModel
from grantledger.domain.corrections import Shown, status_of
from grantledger.store.entitlements.event_log import EventLogRecord

MAX_BATCH = 1000


class IngestBatchEventRequest(RequestModel):
    events: Annotated[list[EventRequest], Field(min_length=1, max_length=MAX_BATCH)]


class EventCorrectionRequest(RequestModel):
    event: EventRequest | None = None


class IngestionStatusOut(ResponseModel):
    status: str
    status_description: str | None = None


class EventSourceOut(ResponseModel):
    id: str
    type: str


class NamedOut(ResponseModel):
    id: str
    name: str


class SchemaRefOut(ResponseModel):
    name: str
    version: int


class FeatureDetailsOut(ResponseModel):
    feature_id: str
    mapped_attribute: str
    overage_in_event: Amount | None = None


class PipelineOut(ResponseModel):
    event_schema: SchemaRefOut | None = None
    account: NamedOut | None = None
    customer: NamedOut | None = None
    feature_details: FeatureDetailsOut | None = None
    status_before_reverting: str | None = None
    invoice_currency: str | None = None


class DrawOut(ResponseModel):
    """Extension: one draw of the event, and whether a correction gave it back."""

    feature_id: str
    entry_id: str
    amount: Amount
    reversed: bool


def _description(shown: Shown) -> str | None:
    return shown.description[:250] if shown.description is not None else None


class EventOut(ResponseModel):
    reference_id: str
    event_payload: dict[str, Any]
    ingestion_status: IngestionStatusOut
    customer_id: str | None = None
    source: EventSourceOut
    created_at: datetime
    event_pipeline_info: PipelineOut
    # Extensions: what it drew, what an ingested event's entries could not cover, and the
    # event that replaced it (a REDO).
    draws: list[DrawOut] = Field(default_factory=list)
    shortfall: dict[str, Amount] | None = None
    replaced_by: str | None = None

    @classmethod
    def of(cls, e: EventLogRecord) -> EventOut:
        return cls(**_fields(e))


def _fields(e: EventLogRecord) -> dict[str, Any]:
    shown = status_of(e.accepted, e.reason, bool(e.draws), e.shortfall, e.reverted)
    first = e.draws[0].feature_id if e.draws else next(iter(sorted(e.shortfall)), None)
    overage = sum(
        (d.amount for d in e.draws if d.feature_id == first and d.entry_id.endswith("$OVERAGE")),
        Decimal(0),
    )
    party = e.party
    return {
        "reference_id": e.pk,
        "event_payload": e.payload,
        "ingestion_status": IngestionStatusOut(
            status=shown.status, status_description=_description(shown)
        ),
        "customer_id": party.customer_id if party is not None else None,
        "source": EventSourceOut(id=e.source, type=e.source),
        "created_at": e.received_at,
        "event_pipeline_info": PipelineOut(
            account=NamedOut(id=e.account_id, name=party.account_name) if party else None,
            customer=(
                NamedOut(id=party.customer_id, name=party.customer_name)
                if party is not None and party.customer_name is not None
                else None
            ),
            feature_details=(
                FeatureDetailsOut(
                    feature_id=first,
                    mapped_attribute=e.mapped.get(first, first),
                    overage_in_event=overage or None,
                )
                if first is not None
                else None
            ),
            status_before_reverting=shown.before_reverting,
            invoice_currency=party.invoice_currency if party is not None else None,
        ),
        "draws": [
            DrawOut(
                feature_id=d.feature_id,
                entry_id=d.entry_id,
                amount=d.amount,
                reversed=e.reverted,
            )
            for d in e.draws
        ],
        "shortfall": dict(e.shortfall) or None,
        "replaced_by": e.correction.replacement_pk if e.correction is not None else None,
    }


class EventPage(ResponseModel):
    events: list[EventOut]
    next_token: str | None = None


class SingleEvent(ResponseModel):
    """GetEventResponse: the one event asked for, as a list."""

    events: list[EventOut]


class CorrectionInfoOut(EventOut):
    status: str
    reason: str

    @classmethod
    def of_correction(cls, e: EventLogRecord, status: str, reason: str) -> CorrectionInfoOut:
        return cls(**_fields(e), status=status, reason=reason)


class CorrectionResponse(ResponseModel):
    data: list[CorrectionInfoOut]


class IngestResponse(ResponseModel):
    success: bool
    status_code: int
    message: str
    details: dict[str, Any] | None = None
