"""Where entitlements come from: plans, schedules, purchases, direct grants, set values."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import Field

from grantledger.client.models._base import ApiModel, RequestBody

__all__ = [
    "CreateEntitlementPlanRequest",
    "CreateFeatureCreditEntryRequest",
    "CreatePlanScheduleRequest",
    "CreatePurchaseRequest",
    "EntitlementPlan",
    "EntitlementPlanFeature",
    "EntitlementPlanPaginatedResponse",
    "PlanSchedule",
    "PlanSchedulesResponse",
    "Purchase",
    "SetEntitlementValueRequest",
]


class EntitlementPlanFeature(ApiModel):
    """A feature of a plan: its value and/or credits (and overage) per cycle.

    `validity` is an ISO-8601 duration such as `P30D` (how long purchased credits last).
    """

    feature_id: str
    value: str | None = None
    credits_per_cycle: Decimal | None = None
    overage_per_cycle: Decimal | None = None
    validity: str | None = None


class CreateEntitlementPlanRequest(RequestBody):
    name: str
    type: Literal["BILLING", "PURCHASE"]
    cycle: Literal["WEEKLY", "MONTHLY", "QUARTERLY", "ANNUALLY"] | None = None  # MONTHLY
    features: list[EntitlementPlanFeature] = Field(default_factory=list)
    id: str | None = None


class EntitlementPlan(ApiModel):
    id: str
    name: str
    type: str
    cycle: str
    features: list[EntitlementPlanFeature] = Field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None


class EntitlementPlanPaginatedResponse(ApiModel):
    data: list[EntitlementPlan] = Field(default_factory=list)
    next_token: str | None = None


class CreatePlanScheduleRequest(RequestBody):
    """Put an account on a plan from `effective_from` (inclusive) until `effective_until`."""

    plan_id: str
    effective_from: date
    effective_until: date | None = None


class PlanSchedule(ApiModel):
    id: str
    account_id: str
    plan_id: str
    effective_from: date
    effective_until: date | None = None
    created_at: datetime | None = None


class PlanSchedulesResponse(ApiModel):
    data: list[PlanSchedule] = Field(default_factory=list)
    next_token: str | None = None


class CreatePurchaseRequest(RequestBody):
    """Buy a PURCHASE plan: `rate_card_quantities` maps feature id → quantity."""

    price_plan_id: str
    rate_card_quantities: dict[str, Decimal] = Field(default_factory=dict)
    idempotency_key: str | None = None
    effective_from: date | None = None
    effective_until: date | None = None


class Purchase(ApiModel):
    id: str
    account_id: str
    status: str
    type: str | None = None
    created_at: datetime | None = None
    price_plan_id: str | None = None
    rate_card_quantities: dict[str, Decimal] | None = None
    idempotency_key: str | None = None
    effective_from: date | None = None
    effective_until: date | None = None


class CreateFeatureCreditEntryRequest(RequestBody):
    """A direct grant of feature credits (a refund, a goodwill top-up …)."""

    granted: Decimal
    source: str | None = None  # ENTITLEMENT | REFUND | …
    effective_from: datetime | None = None
    effective_until: datetime | None = None
    idempotency_key: str | None = None


class SetEntitlementValueRequest(RequestBody):
    value: str
