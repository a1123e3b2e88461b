"""The eight Togai entitlement operations' shapes: values, feature credits, entries."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import Field

from grantledger.client.models._base import ApiModel, RequestBody

__all__ = [
    "FeatureCreditEntry",
    "GetEntitlementValuesResponse",
    "GetEntitlementValuesResponseDataInner",
    "GetFeatureCreditEntriesPaginatedResponse",
    "GetFeatureCreditsResponse",
    "UpdateFeatureCreditsRequest",
    "ValidateEntitlementValueRequest",
]


class GetEntitlementValuesResponseDataInner(ApiModel):
    feature_id: str
    value: str


class GetEntitlementValuesResponse(ApiModel):
    data: list[GetEntitlementValuesResponseDataInner] = Field(default_factory=list)

    def value_of(self, feature_id: str) -> str | None:
        """The value of one feature in this answer, or None."""
        return next((d.value for d in self.data if d.feature_id == feature_id), None)


class ValidateEntitlementValueRequest(RequestBody):
    value: str


class GetFeatureCreditsResponse(ApiModel):
    account_id: str
    feature_id: str
    granted: Decimal
    balance: Decimal
    used_overage: Decimal
    overage_limit: Decimal | None = None


class FeatureCreditEntry(ApiModel):
    id: str
    source: str  # ENTITLEMENT | PRICE_PLAN | OVERAGE | REFUND
    status: str  # ACTIVE | EXPIRED | VOIDED
    effective_from: datetime
    effective_until: datetime
    used: Decimal
    granted: Decimal | None = None
    balance: Decimal | None = None


class GetFeatureCreditEntriesPaginatedResponse(ApiModel):
    data: list[FeatureCreditEntry] = Field(default_factory=list)
    next_token: str | None = None


class UpdateFeatureCreditsRequest(RequestBody):
    """`effective_until` must be in the future; `granted` at least what is used."""

    effective_until: datetime | None = None
    granted: Decimal | None = None
