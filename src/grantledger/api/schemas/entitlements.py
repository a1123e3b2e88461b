"""Plans and purchases of an account, entries, values and events on the wire."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, StrictInt, StrictStr

from grantledger.api.jsonio import dumps, loads
from grantledger.api.schemas.catalog import Text255
from grantledger.api.schemas.common import MAX_ITEMS, Id50
from grantledger.api.wire import (
    Amount,
    NonNegativeAmount,
    PositiveAmount,
    RequestModel,
    ResponseModel,
    WireDate,
    WireDateTime,
    dump,
)
from grantledger.domain.entitlements import FAR_FUTURE, EntrySource
from grantledger.domain.passthrough import JsonObject
from grantledger.service.entitlements.grants import PurchasedFeature
from grantledger.store.entitlements.entries import EntryRecord
from grantledger.store.entitlements.purchases import PurchaseRecord
from grantledger.store.entitlements.schedules import ScheduleRecord

# --- schedules, purchases, grants --------------------------------------------------------------


class AssignPlanRequest(RequestModel):
    plan_id: Id50
    effective_from: WireDate
    effective_until: WireDate | None = None
    idempotency_key: Text255 | None = None


class ScheduleOut(ResponseModel):
    id: str
    account_id: str
    plan_id: str
    effective_from: date
    effective_until: date | None = None
    idempotency_key: str | None = None
    created_at: datetime

    @classmethod
    def of(cls, schedule: ScheduleRecord) -> ScheduleOut:
        return cls(
            id=schedule.id,
            account_id=schedule.account_id,
            plan_id=schedule.plan_id,
            effective_from=schedule.effective_from,
            effective_until=schedule.effective_until,
            idempotency_key=schedule.idempotency_key,
            created_at=schedule.created_at,
        )


class SchedulePage(ResponseModel):
    data: list[ScheduleOut]


PurchaseType = Literal["ENTITLEMENT_GRANT", "ASSOCIATION", "WALLET_TOPUP", "PREPAID"]
# Togai's override objects, kept as sent: this product gives them no meaning (docs/api.md).
Override = Annotated[JsonObject, Field(max_length=20)]


class WalletTopupDetails(RequestModel):
    topup_amount: NonNegativeAmount
    purchase_amount: NonNegativeAmount | None = None


class CreatePurchaseRequest(RequestModel):
    price_plan_id: Id50
    rate_card_quantities: (
        Annotated[dict[Id50, PositiveAmount], Field(min_length=1, max_length=50)] | None
    ) = None
    idempotency_key: Text255 | None = None
    effective_from: WireDate | None = None
    effective_until: WireDate | None = None
    expiry_date: WireDateTime | None = None
    quantity: Annotated[StrictInt, Field(ge=1, le=2**31 - 1)] | None = None
    type: PurchaseType | None = None
    purchase_plan_override: Override | None = None
    association_override: Override | None = None
    wallet_topup_details: WalletTopupDetails | None = None
    # Extension: what the customer paid per unit of the entries (0: free); absent: not known.
    cost_basis: NonNegativeAmount | None = None

    def options(self) -> str | None:
        """The fields stored and echoed only, as canonical JSON text (sorted keys, exact
        numbers), so a replay with the keys in another order is the same request."""
        kept: JsonObject = {}
        if self.purchase_plan_override is not None:
            kept["purchasePlanOverride"] = self.purchase_plan_override
        if self.association_override is not None:
            kept["associationOverride"] = self.association_override
        if self.wallet_topup_details is not None:
            kept["walletTopupDetails"] = dump(self.wallet_topup_details)
        return dumps(kept, sort_keys=True).decode() if kept else None


class PurchaseOut(ResponseModel):
    """Togai's Purchase."""

    id: str
    account_id: str
    status: str
    type: str
    price_plan_id: str
    quantity: int | None = None
    rate_card_quantities: dict[str, Amount] | None = None
    idempotency_key: str | None = None
    purchase_plan_override: JsonObject | None = None
    association_override: JsonObject | None = None
    wallet_topup_details: JsonObject | None = None
    effective_from: date | None = None
    effective_until: date | None = None
    expiry_date: datetime | None = None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, bought: PurchaseRecord) -> PurchaseOut:
        kept = loads(bought.options.encode()) if bought.options else {}
        return cls(
            id=bought.id,
            account_id=bought.account_id,
            status="SUCCESS",
            type=bought.type or "ENTITLEMENT_GRANT",
            price_plan_id=bought.plan_id,
            quantity=bought.quantity,
            rate_card_quantities=bought.rate_card_quantities,
            idempotency_key=bought.idempotency_key,
            purchase_plan_override=kept.get("purchasePlanOverride"),
            association_override=kept.get("associationOverride"),
            wallet_topup_details=kept.get("walletTopupDetails"),
            effective_from=bought.effective_from,
            effective_until=bought.effective_until,
            expiry_date=bought.expiry_date,
            created_at=bought.created_at,
            updated_at=bought.created_at,
        )


class PurchaseFeatureOut(ResponseModel):
    """Togai's PurchaseFeatureDetails: what the purchase granted of one feature, as it stands."""

    id: str
    name: str
    credits_granted: Amount
    credits_available: Amount
    updated_at: datetime
    effective_from: datetime
    effective_until: datetime

    @classmethod
    def of(cls, granted: PurchasedFeature) -> PurchaseFeatureOut:
        e = granted.entry.entry
        return cls(
            id=granted.entry.feature_id,
            name=granted.name,
            credits_granted=e.granted,
            credits_available=granted.available,
            updated_at=granted.entry.updated_at,
            effective_from=e.effective_from,
            effective_until=e.effective_until or FAR_FUTURE,
        )


class GetPurchaseOut(PurchaseOut):
    """Togai's GetPurchaseResponse: the purchase and the features it granted."""

    features: list[PurchaseFeatureOut]


class PurchaseListItem(ResponseModel):
    """Togai's PurchaseListResponse (the items of an account's purchase list)."""

    id: str
    price_plan_id: str
    quantity: int | None = None
    rate_card_quantities: dict[str, Amount] | None = None
    status: str
    idempotency_key: str | None = None
    wallet_topup_details: JsonObject | None = None
    created_at: datetime
    updated_at: datetime
    type: str

    @classmethod
    def of(cls, bought: PurchaseRecord) -> PurchaseListItem:
        full = PurchaseOut.of(bought)
        return cls(
            id=full.id,
            price_plan_id=full.price_plan_id,
            quantity=full.quantity,
            rate_card_quantities=full.rate_card_quantities,
            status=full.status,
            idempotency_key=full.idempotency_key,
            wallet_topup_details=full.wallet_topup_details,
            created_at=full.created_at,
            updated_at=full.updated_at,
            type=full.type,
        )


class PurchasePage(ResponseModel):
    data: list[PurchaseListItem]
    next_token: str | None = None


class GrantEntryRequest(RequestModel):
    granted: PositiveAmount
    source: Literal["ENTITLEMENT", "REFUND", "OVERAGE"] = "ENTITLEMENT"
    effective_from: WireDateTime | None = None
    effective_until: WireDateTime | None = None
    idempotency_key: Text255 | None = None
    # What the customer paid per unit, in the account's currency (0: free); absent: not known.
    cost_basis: NonNegativeAmount | None = None


# --- the eight Togai operations ------------------------------------------------------------------


WireSource = Literal["ENTITLEMENT", "PRICE_PLAN", "OVERAGE", "REFUND"]
_WIRE_SOURCE: dict[EntrySource, WireSource] = {
    EntrySource.ENTITLEMENT: "ENTITLEMENT",
    EntrySource.PRICE_PLAN: "PRICE_PLAN",
    EntrySource.OVERAGE: "OVERAGE",
    EntrySource.REFUND: "REFUND",
    EntrySource.ROLLOVER: "PRICE_PLAN",
}


class FeatureCreditEntryOut(ResponseModel):
    id: str
    source: WireSource
    status: Literal["ACTIVE", "EXPIRED", "VOIDED"]
    effective_from: datetime
    effective_until: datetime
    granted: Amount
    balance: Amount
    used: Amount

    @classmethod
    def of(cls, record: EntryRecord, now: datetime) -> FeatureCreditEntryOut:
        e = record.entry
        # PURCHASE entries are ENTITLEMENT on the wire and ROLLOVER entries PRICE_PLAN (what
        # the plan granted): Togai's source enum has neither; the id tells a rollover apart.
        return cls(
            id=e.id,
            source=_WIRE_SOURCE[e.source],
            status=e.status_at(now).value,
            effective_from=e.effective_from,
            effective_until=e.effective_until or FAR_FUTURE,
            granted=e.granted,
            # A voided entry can give nothing more: its remainder is gone, so it shows 0.
            balance=Decimal(0) if e.voided else e.balance,
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
    # Extension: of the units used, those feature holds reserve now (absent when none).
    held: Amount | None = None


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
    dimensions: Annotated[
        dict[
            Annotated[StrictStr, Field(min_length=1, max_length=50)],
            Annotated[StrictStr, Field(min_length=1, max_length=200)],
        ],
        Field(max_length=MAX_ITEMS),
    ]


class IngestEventRequest(RequestModel):
    event: EventRequest
