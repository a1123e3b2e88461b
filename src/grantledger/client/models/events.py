"""Event schemas, and the events `/entitled` gates on."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import Field, field_validator

from grantledger.client.models._base import ApiModel, RequestBody
from grantledger.client.models.common import PaginationOptions

__all__ = [
    "Attribute",
    "CreateEventSchemaRequest",
    "DimensionsSchema",
    "Event",
    "EventAttributeSchema",
    "EventSchema",
    "EventSchemaListData",
    "EventSchemaListPaginatedResponse",
    "FeatureDetails",
    "IngestEventRequest",
]


class EventAttributeSchema(ApiModel):
    name: str
    default_unit: str | None = None


class DimensionsSchema(ApiModel):
    name: str


class CreateEventSchemaRequest(RequestBody):
    name: str
    description: str | None = None
    attributes: list[EventAttributeSchema] = Field(default_factory=list)
    dimensions: list[DimensionsSchema] = Field(default_factory=list)


class FeatureDetails(ApiModel):
    feature_id: str
    attribute_name: str


class EventSchema(ApiModel):
    name: str
    version: int
    description: str | None = None
    status: str | None = None  # DRAFT | ACTIVE | INACTIVE | ARCHIVED
    attributes: list[EventAttributeSchema] | None = None
    dimensions: list[DimensionsSchema] | None = None
    feature_details: FeatureDetails | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


EventSchemaListData = EventSchema


class EventSchemaListPaginatedResponse(ApiModel):
    data: list[EventSchema] = Field(default_factory=list)
    next_token: str | None = None
    context: PaginationOptions | None = None


class Attribute(ApiModel):
    """A numeric attribute of an event; `value` is a decimal string such as `"12.5"`."""

    name: str
    value: str
    unit: str | None = None

    @field_validator("value", mode="before")
    @classmethod
    def _numeric_text(cls, value: Any) -> Any:
        # Decimal and int are accepted and written as text; float is refused (inexact).
        if isinstance(value, Decimal):
            return format(value, "f")
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value


class Event(ApiModel):
    """A usage event. Give it an `id`: duplicates are refused and the call becomes retry-safe."""

    schema_name: str
    account_id: str
    timestamp: datetime
    id: str | None = None
    attributes: list[Attribute] = Field(default_factory=list)
    dimensions: dict[str, str] = Field(default_factory=dict)


class IngestEventRequest(RequestBody):
    event: Event | None = None
