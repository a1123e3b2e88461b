"""Feature holds: units reserved for a bounded time, then settled or released (extension)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import Field

from grantledger.client.models._base import ApiModel, RequestBody

__all__ = [
    "CreateFeatureHoldRequest",
    "FeatureHold",
    "FeatureHoldPaginatedResponse",
    "FeatureUnits",
    "HeldFeature",
    "SettleFeatureHoldRequest",
]


class FeatureUnits(RequestBody):
    feature_id: str
    units: Decimal


class CreateFeatureHoldRequest(RequestBody):
    """The hold's id keys it: a repeat with the same body returns the first answer."""

    id: str
    features: list[FeatureUnits] = Field(default_factory=list)
    expires_in: str | None = None  # ISO-8601 duration, at most PT24H; PT15M when absent


class SettleFeatureHoldRequest(RequestBody):
    features: list[FeatureUnits] = Field(default_factory=list)


class HeldFeature(ApiModel):
    feature_id: str
    units: Decimal
    settled_units: Decimal | None = None
    shortfall_units: Decimal | None = None


class FeatureHold(ApiModel):
    id: str
    account_id: str
    status: str  # HELD | SETTLED | RELEASED | EXPIRED
    features: list[HeldFeature]
    created_at: datetime
    expires_at: datetime
    reference_id: str
    shortfall_units: Decimal | None = None
    closed_at: datetime | None = None
    settlement_reference_id: str | None = None


class FeatureHoldPaginatedResponse(ApiModel):
    data: list[FeatureHold]
    next_token: str | None = None
