"""Usage recorded, listed and taken back: the models of Togai's Event Ingestion and Event
Management APIs, with the ledger's extensions (what each event drew, its shortfall)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field

from grantledger.client.models._base import ApiModel, RequestBody
from grantledger.client.models.events import Event

__all__ = [
    "CorrectionAction",
    "EventCorrectionInfo",
    "EventCorrectionRequest",
    "EventDraw",
    "EventPipelineInfo",
    "EventPipelineInfoAccount",
    "EventPipelineInfoCustomer",
    "EventPipelineInfoEventSchema",
    "EventPipelineInfoFeatureDetails",
    "EventSource",
    "EventWithStatus",
    "EventWithStatusAndEventPipelineInfo",
    "EventsCorrectionResponse",
    "GetEventResponse",
    "GetEventsResponse",
    "IngestBatchEventRequest",
    "IngestEventResponse",
    "IngestionStatus",
]

# What `event_correction` may do (docs/api.md §12).
CorrectionAction = Literal["UNDO", "REDO", "REDO_EVENT"]


class IngestBatchEventRequest(RequestBody):
    """Up to 1,000 events, judged in order (`POST /ingestBatch`)."""

    events: list[Event]


class IngestEventResponse(ApiModel):
    """The answer of `/ingest` and `/ingestBatch`; `details` names reference ids, shortfalls
    and, for a batch, the failures (docs/api.md §12)."""

    success: bool | None = None
    status_code: int | None = None
    name: str | None = None
    message: str | None = None
    code: str | None = None
    details: dict[str, Any] | None = None


class IngestionStatus(ApiModel):
    """`INGESTION_COMPLETED_EVENT_METERED`, `…_NOT_METERED`,
    `INGESTION_FAILED_INSUFFICIENT_CREDITS`, `INGESTION_FAILED_PAST_GRACE_PERIOD` or
    `REVERTED`, and why."""

    status: str
    status_description: str | None = None


class EventSource(ApiModel):
    """Which door judged the event: `ENTITLED` (the gate) or `INGEST`."""

    id: str
    type: str


class EventPipelineInfoAccount(ApiModel):
    id: str
    name: str | None = None


class EventPipelineInfoCustomer(ApiModel):
    id: str
    name: str | None = None


class EventPipelineInfoEventSchema(ApiModel):
    name: str
    version: int | None = None


class EventPipelineInfoFeatureDetails(ApiModel):
    feature_id: str
    mapped_attribute: str
    overage_in_cycle: Decimal | None = None
    overage_in_event: Decimal | None = None


class EventPipelineInfo(ApiModel):
    event_schema: EventPipelineInfoEventSchema | None = None
    account: EventPipelineInfoAccount | None = None
    customer: EventPipelineInfoCustomer | None = None
    feature_details: EventPipelineInfoFeatureDetails | None = None
    # What the event showed before a correction reverted it.
    status_before_reverting: str | None = None
    base_currency: str | None = None
    invoice_currency: str | None = None


class EventDraw(ApiModel):
    """Extension: units the event drew from one entry, and whether a correction gave them back."""

    feature_id: str
    entry_id: str
    amount: Decimal
    reversed: bool = False


class EventWithStatusAndEventPipelineInfo(ApiModel):
    """One judged event: as received, its status, and what it drew from which entry."""

    reference_id: str  # this judgement's id: `get_single_event` takes it
    event_payload: Event
    ingestion_status: IngestionStatus
    customer_id: str | None = None
    source: EventSource | None = None
    created_at: datetime
    event_pipeline_info: EventPipelineInfo | None = None
    # Extensions: the draws, what an ingested event's entries could not cover, and the
    # judgement that replaced it (a REDO).
    draws: list[EventDraw] = Field(default_factory=list)
    shortfall: dict[str, Decimal] | None = None
    replaced_by: str | None = None

    @property
    def reverted(self) -> bool:
        return self.ingestion_status.status == "REVERTED"

    def drawn(self) -> dict[str, Decimal]:
        """Units drawn per feature (reversed draws included: the draws stay, see `reverted`)."""
        total: dict[str, Decimal] = {}
        for d in self.draws:
            total[d.feature_id] = total.get(d.feature_id, Decimal(0)) + d.amount
        return total


# The list shows every event with its pipeline info, so both of Togai's names are one model.
EventWithStatus = EventWithStatusAndEventPipelineInfo


class GetEventsResponse(ApiModel):
    """A page of events, newest first. A filter matching nothing is answered 204 (Togai's
    model requires an event), which reads as an empty page here."""

    events: list[EventWithStatusAndEventPipelineInfo] = Field(default_factory=list)
    next_token: str | None = None

    @property
    def data(self) -> Sequence[EventWithStatusAndEventPipelineInfo]:
        """The page's items under the name every other page uses (and `iter_events` reads)."""
        return self.events


class GetEventResponse(ApiModel):
    """`GET /events/{reference_id}`: the one event, as a list (Togai's shape)."""

    events: list[EventWithStatusAndEventPipelineInfo] = Field(default_factory=list)

    @property
    def event(self) -> EventWithStatusAndEventPipelineInfo:
        return self.events[0]


class EventCorrectionRequest(RequestBody):
    """Names the event to correct by its `id` and `account_id`; for REDO_EVENT, the corrected
    payload (same id, account and timestamp)."""

    event: Event | None = None


class EventCorrectionInfo(EventWithStatusAndEventPipelineInfo):
    """An event a correction touched: `status` is `REVERTED`, `REVERTED_AND_REINGESTED` or
    `FAILED`, and `reason` says why (a FAILED correction changed nothing)."""

    status: str
    reason: str


class EventsCorrectionResponse(ApiModel):
    """The corrected event, then (REDO, REDO_EVENT) its new judgement."""

    data: list[EventCorrectionInfo] = Field(default_factory=list)

    @property
    def status(self) -> str:
        """The correction's outcome: REVERTED, REVERTED_AND_REINGESTED or FAILED."""
        return self.data[0].status

    @property
    def reason(self) -> str:
        return self.data[0].reason

    @property
    def replacement(self) -> EventCorrectionInfo | None:
        """A REDO's new judgement of the event (None for an UNDO or a FAILED correction)."""
        return self.data[1] if len(self.data) > 1 else None
