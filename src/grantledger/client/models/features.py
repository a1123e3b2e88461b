"""Features: what an account is entitled to, and which events consume it."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from grantledger.client.models._base import ApiModel, RequestBody
from grantledger.client.models.common import PaginationOptions

__all__ = [
    "CreateFeatureRequest",
    "EventSchemasForFeature",
    "Feature",
    "FeatureListResponse",
    "FeaturePaginatedListData",
    "FeatureValueType",
    "UpdateFeatureRequest",
]

FeatureValueType = Literal["BOOLEAN", "NUMERIC", "ENUM", "STRING"]


class EventSchemasForFeature(ApiModel):
    """Events of `schema_name` consume the feature; `attribute_name` holds the quantity."""

    schema_name: str
    attribute_name: str


class CreateFeatureRequest(RequestBody):
    name: str
    billable_name: str | None = None
    schema_associations: list[EventSchemasForFeature] = Field(default_factory=list)
    id: str | None = None  # extension: a stable key such as "ai-tokens"
    value_type: FeatureValueType | None = None  # extension, default BOOLEAN
    allowed_values: list[str] | None = None  # extension, for ENUM


class UpdateFeatureRequest(RequestBody):
    name: str | None = None
    billable_name: str | None = None
    schema_associations: list[EventSchemasForFeature] | None = None


class Feature(ApiModel):
    id: str
    name: str
    display_name: str
    created_at: datetime
    billable_name: str | None = None
    schema_associations: list[EventSchemasForFeature] = Field(default_factory=list)
    value_type: str | None = None
    allowed_values: list[str] | None = None
    updated_at: datetime | None = None


class FeatureListResponse(ApiModel):
    id: str
    name: str
    display_name: str
    created_at: datetime
    schema_count: int | None = None
    billable_name: str | None = None
    value_type: str | None = None
    allowed_values: list[str] | None = None
    updated_at: datetime | None = None


class FeaturePaginatedListData(ApiModel):
    data: list[FeatureListResponse] = Field(default_factory=list)
    next_token: str | None = None
    context: PaginationOptions | None = None
