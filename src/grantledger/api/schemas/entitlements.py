"""Plans and purchases of an account, entries, values and events on the wire."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field, StrictStr

from grantledger.api.schemas.catalog import Text255
from grantledger.api.schemas.common import Id50, Int32
from grantledger.api.wire import (
    Amount,
    NonNegativeAmount,
    PositiveAmount,
    RequestModel,
    ResponseModel,
    WireDate,
    WireDateTime,
)
from grantledger.domain.entitlements import FAR_FUTURE
from grantledger.store.entitlements.entries import EntryRecord
from grantledger.store.entitlements.purchases import PurchaseRecord
from grantledger.store.entitlements.schedules import ScheduleRecord

# --- schedules, purchases, grants --------------------------------------------------------------


class AssignPlanRequest(RequestModel):
    plan_id: Id50
    effective_from: WireDate
    effective_until: WireDate | None = None


class ScheduleOut(ResponseModel):
    id: str
    account_id: str
    plan_id: str
    effective_from: date
    effective_until: date | None = None
    created_at: datetime

    @classmethod
    def of(cls, schedule: ScheduleRecord) -> ScheduleOut:
        return cls(
            id=schedule.id,
            account_id=schedule.account_id,
            plan_id=schedule.plan_id,
            effective_from=schedule.effective_from,
            effective_until=schedule.effective_until,
            created_at=schedule.created_at,
        )


class SchedulePage(ResponseModel):
    data: list[ScheduleOut]


class CreatePurchaseRequest(RequestModel):
    price_plan_id: Id50
    rate_card_quantities: Annotated[dict[str, PositiveAmount], Field(min_length=1, max_length=50)]
    idempotency_key: Text255 | None = None
    effective_from: WireDate | None = None
    effective_until: WireDate | None = None
    quantity: Int32 | None = None
    type: Literal["ENTITLEMENT_GRANT"] | None = None


class PurchaseOut(ResponseModel):
    id: str
    account_id: str
    status: str
    type: str
    price_plan_id: str
    rate_card_quantities: dict[str, Amount]
    idempotency_key: str | None = None
    effective_from: date | None = None
    effective_until: date | None = None
    created_at: datetime

    @classmethod
    def of(cls, bought: PurchaseRecord) -> PurchaseOut:
        return cls(
            id=bought.id,
            account_id=bought.account_id,
            status="SUCCESS",
            type="ENTITLEMENT_GRANT",
            price_plan_id=bought.plan_id,
            rate_card_quantities=bought.rate_card_quantities,
            idempotency_key=bought.idempotency_key,
            effective_from=bought.effective_from,
            effective_until=bought.effective_until,
            created_at=bought.created_at,
        )


class GrantEntryRequest(RequestModel):
    granted: PositiveAmount
    source: Literal["ENTITLEMENT", "REFUND", "OVERAGE"] = "ENTITLEMENT"
    effective_from: WireDateTime | None = None
    effective_until: WireDateTime | None = None
    idempotency_key: Text255 | None = None


# --- the eight Togai operations ------------------------------------------------------------------


class FeatureCreditEntryOut(ResponseModel):
    id: str
    source: str
    status: str
    effective_from: datetime
    effective_until: datetime
    granted: Amount
    balance: Amount
    used: Amount

    @classmethod
    def of(cls, record: EntryRecord, now: datetime) -> FeatureCreditEntryOut:
        e = record.entry
        # PURCHASE entries are ENTITLEMENT on the wire: Togai's source enum has no PURCHASE.
        return cls(
            id=e.id,
            source=e.source.value,
            status=e.status_at(now).value,
            effective_from=e.effective_from,
            effective_until=e.effective_until or FAR_FUTURE,
            granted=e.granted,
            balance=e.balance,
            used=e.used,
        )


class FeatureCreditEntryPage(ResponseModel):
    data: list[FeatureCreditEntryOut]
    next_token: str | None = None


class UpdateFeatureCreditsRequest(RequestModel):
    effective_until: WireDateTime | None = None
    granted: NonNegativeAmount | None = None


class GetFeatureCreditsResponse(ResponseModel):
    account_id: str
    feature_id: str
    granted: Amount
    balance: Amount
    overage_limit: Amount | None = None
    used_overage: Amount


class EntitlementValue(ResponseModel):
    feature_id: str
    value: str


class GetEntitlementValuesResponse(ResponseModel):
    data: list[EntitlementValue]


class ValueRequest(RequestModel):
    value: Annotated[StrictStr, Field(max_length=255)]


NumericString = Annotated[StrictStr, Field(max_length=600, pattern=r"^-?[0-9]{1,512}(\.[0-9]+)?$")]


class EventAttribute(RequestModel):
    name: Annotated[StrictStr, Field(min_length=1, max_length=50)]
    value: NumericString
    unit: Annotated[StrictStr, Field(min_length=1, max_length=50)] | None = None


class EventRequest(RequestModel):
    schema_name: Annotated[StrictStr, Field(min_length=1, max_length=50)]
    id: Annotated[StrictStr, Field(min_length=1, max_length=512)] | None = None
    timestamp: WireDateTime
    account_id: Annotated[StrictStr, Field(min_length=1, max_length=512)]
    attributes: Annotated[list[EventAttribute], Field(max_length=10)]
    dimensions: dict[str, Annotated[StrictStr, Field(min_length=1, max_length=200)]]


class IngestEventRequest(RequestModel):
    event: EventRequest
