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
    "PurchaseFeature",
    "PurchasePaginatedResponse",
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
    # None: MONTHLY
    cycle: Literal["WEEKLY", "MONTHLY", "QUARTERLY", "HALF_YEARLY", "ANNUALLY"] | None = None
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
    idempotency_key: str | None = None  # same key and body: the original answer


class PlanSchedule(ApiModel):
    id: str
    account_id: str
    plan_id: str
    effective_from: date
    effective_until: date | None = None
    idempotency_key: str | None = None
    created_at: datetime | None = None


class PlanSchedulesResponse(ApiModel):
    data: list[PlanSchedule] = Field(default_factory=list)
    next_token: str | None = None


class CreatePurchaseRequest(RequestBody):
    """Buy a PURCHASE plan: `rate_card_quantities` maps feature id → quantity (every feature
    the plan sells, at 1, when left out); `quantity` multiplies the whole purchase."""

    price_plan_id: str
    rate_card_quantities: dict[str, Decimal] | None = None
    quantity: int | None = None
    idempotency_key: str | None = None
    effective_from: date | None = None
    effective_until: date | None = None
    expiry_date: datetime | None = None
    type: str | None = None
    # Togai's fields the server stores and echoes without effect.
    purchase_plan_override: dict[str, object] | None = None
    association_override: dict[str, object] | None = None
    wallet_topup_details: dict[str, object] | None = None


class PurchaseFeature(ApiModel):
    """What a purchase granted of one feature, and what is left of it."""

    id: str
    name: str
    credits_granted: Decimal
    credits_available: Decimal
    updated_at: datetime | None = None
    effective_from: datetime | None = None
    effective_until: datetime | None = None


class Purchase(ApiModel):
    id: str
    account_id: str | None = None  # absent from list items
    status: str
    type: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    price_plan_id: str | None = None
    quantity: int | None = None
    rate_card_quantities: dict[str, Decimal] | None = None
    idempotency_key: str | None = None
    effective_from: date | None = None
    effective_until: date | None = None
    expiry_date: datetime | None = None
    purchase_plan_override: dict[str, object] | None = None
    association_override: dict[str, object] | None = None
    wallet_topup_details: dict[str, object] | None = None
    features: list[PurchaseFeature] | None = None  # on GET /purchases/{id}


class PurchasePaginatedResponse(ApiModel):
    data: list[Purchase] = Field(default_factory=list)
    next_token: str | None = None


class CreateFeatureCreditEntryRequest(RequestBody):
    """A direct grant of feature credits (a refund, a goodwill top-up …)."""

    granted: Decimal
    source: str | None = None  # ENTITLEMENT | REFUND | …
    effective_from: datetime | None = None
    effective_until: datetime | None = None
    idempotency_key: str | None = None


class SetEntitlementValueRequest(RequestBody):
    value: str
