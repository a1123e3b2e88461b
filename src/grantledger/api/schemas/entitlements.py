"""Event schemas, features, plans, purchases, entries, values and events on the wire."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field, StrictInt, StrictStr

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
from grantledger.domain.errors import InvalidInput
from grantledger.store.entitlements import EntryRecord

SchemaName = Annotated[StrictStr, Field(min_length=1, max_length=50, pattern=r"^[\sa-zA-Z0-9_-]*$")]
Text255 = Annotated[StrictStr, Field(min_length=1, max_length=255)]

# --- event schemas ---------------------------------------------------------------------------


class SchemaAttribute(RequestModel):
    name: SchemaName
    default_unit: Annotated[StrictStr, Field(max_length=10)] | None = None


class SchemaDimension(RequestModel):
    name: SchemaName


class EnrichmentDependency(RequestModel):
    type: StrictStr
    key: StrictStr
    name: StrictStr


class EnrichmentField(RequestModel):
    name: StrictStr
    type: Literal["ATTRIBUTE", "DIMENSION"]
    enrichment_type: StrictStr
    value: StrictStr
    order: Annotated[StrictInt, Field(ge=-(2**31), le=2**31 - 1)]


class Enrichments(RequestModel):
    """Togai's shape, stored and returned as sent (typed, so no free-form number reaches
    the JSON columns or the response encoder)."""

    dependencies: list[EnrichmentDependency] | None = None
    fields: list[EnrichmentField]


class CreateEventSchemaRequest(RequestModel):
    name: SchemaName
    description: Annotated[StrictStr, Field(max_length=255)] | None = None
    attributes: Annotated[list[SchemaAttribute], Field(max_length=50)]
    dimensions: Annotated[list[SchemaDimension], Field(max_length=50)]
    enrichments: Enrichments | None = None
    filter_fields: list[StrictStr] | None = None
    event_id_template: StrictStr | None = None

    def to_row(self) -> dict[str, Any]:
        names = [a.name for a in self.attributes]
        if len(names) != len(set(names)):
            raise InvalidInput("event schema attribute names must be distinct")
        return {
            "name": self.name,
            "description": self.description,
            "status": "ACTIVE",
            "attributes": [a.model_dump(by_alias=True, exclude_none=True) for a in self.attributes],
            "dimensions": [d.model_dump(by_alias=True) for d in self.dimensions],
            "extra": {
                k: v
                for k, v in {
                    "enrichments": self.enrichments.model_dump(by_alias=True, exclude_none=True)
                    if self.enrichments is not None
                    else None,
                    "filterFields": self.filter_fields,
                    "eventIdTemplate": self.event_id_template,
                }.items()
                if v is not None
            },
        }


class EventSchemaOut(ResponseModel):
    name: str
    version: int
    description: str | None = None
    status: str
    attributes: list[dict[str, Any]]
    dimensions: list[dict[str, Any]]
    enrichments: Any | None = None
    filter_fields: list[str] | None = None
    event_id_template: str | None = None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: dict[str, Any]) -> EventSchemaOut:
        extra = row["extra"]
        return cls(
            name=row["name"],
            version=row["version"],
            description=row["description"],
            status=row["status"],
            attributes=row["attributes"],
            dimensions=row["dimensions"],
            enrichments=extra.get("enrichments"),
            filter_fields=extra.get("filterFields"),
            event_id_template=extra.get("eventIdTemplate"),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


class EventSchemaPage(ResponseModel):
    data: list[EventSchemaOut]
    next_token: str | None = None


# --- features --------------------------------------------------------------------------------


class SchemaAssociation(RequestModel):
    schema_name: SchemaName
    attribute_name: Annotated[StrictStr, Field(min_length=1, max_length=50)]


ValueTypeName = Literal["BOOLEAN", "NUMERIC", "ENUM", "STRING"]


class CreateFeatureRequest(RequestModel):
    name: Text255
    billable_name: Text255 | None = None
    schema_associations: Annotated[list[SchemaAssociation], Field(max_length=50)]
    id: Id50 | None = None
    value_type: ValueTypeName = "BOOLEAN"
    allowed_values: Annotated[list[Text255], Field(min_length=1, max_length=100)] | None = None


class UpdateFeatureRequest(RequestModel):
    name: Text255 | None = None
    billable_name: Text255 | None = None
    schema_associations: Annotated[list[SchemaAssociation], Field(max_length=50)] | None = None


class AssociationOut(ResponseModel):
    schema_name: str
    attribute_name: str


class FeatureOut(ResponseModel):
    id: str
    name: str
    display_name: str
    billable_name: str | None = None
    schema_associations: list[AssociationOut]
    value_type: str
    allowed_values: list[str] | None = None
    created_at: datetime
    updated_at: datetime | None = None

    @classmethod
    def of(cls, row: dict[str, Any]) -> FeatureOut:
        return cls(
            id=row["id"],
            name=row["name"],
            display_name=row["billable_name"] or row["name"],
            billable_name=row["billable_name"],
            schema_associations=[
                AssociationOut(schema_name=s, attribute_name=a) for s, a in row["associations"]
            ],
            value_type=row["value_type"],
            allowed_values=row["allowed_values"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


class FeatureListItem(ResponseModel):
    id: str
    name: str
    display_name: str
    billable_name: str | None = None
    schema_count: int
    value_type: str
    created_at: datetime
    updated_at: datetime | None = None

    @classmethod
    def of(cls, row: dict[str, Any]) -> FeatureListItem:
        return cls(
            id=row["id"],
            name=row["name"],
            display_name=row["billable_name"] or row["name"],
            billable_name=row["billable_name"],
            schema_count=len(row["associations"]),
            value_type=row["value_type"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


class FeaturePage(ResponseModel):
    data: list[FeatureListItem]
    next_token: str | None = None


# --- plans, schedules, purchases, grants -------------------------------------------------------


class PlanFeatureRequest(RequestModel):
    feature_id: Id50
    value: Text255 | None = None
    credits_per_cycle: NonNegativeAmount | None = None
    overage_per_cycle: NonNegativeAmount | None = None
    validity: Annotated[StrictStr, Field(max_length=20)] | None = None


class CreatePlanRequest(RequestModel):
    id: Id50 | None = None
    name: Text255
    type: Literal["BILLING", "PURCHASE"]
    cycle: Literal["WEEKLY", "MONTHLY", "QUARTERLY", "ANNUALLY"] = "MONTHLY"
    features: Annotated[list[PlanFeatureRequest], Field(min_length=1, max_length=50)]


class PlanFeatureOut(ResponseModel):
    feature_id: str
    value: str | None = None
    credits_per_cycle: Amount | None = None
    overage_per_cycle: Amount | None = None
    validity: str | None = None


class PlanOut(ResponseModel):
    id: str
    name: str
    type: str
    cycle: str
    features: list[PlanFeatureOut]
    created_at: datetime

    @classmethod
    def of(cls, row: dict[str, Any]) -> PlanOut:
        def amount(text: str | None) -> Decimal | None:
            return Decimal(text) if text is not None else None

        return cls(
            id=row["id"],
            name=row["name"],
            type=row["type"],
            cycle=row["cycle"],
            features=[
                PlanFeatureOut(
                    feature_id=f["featureId"],
                    value=f.get("value"),
                    credits_per_cycle=amount(f.get("creditsPerCycle")),
                    overage_per_cycle=amount(f.get("overagePerCycle")),
                    validity=f.get("validity"),
                )
                for f in row["features"]
            ],
            created_at=row["created_at"],
        )


class PlanPage(ResponseModel):
    data: list[PlanOut]
    next_token: str | None = None


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
    def of(cls, row: dict[str, Any]) -> ScheduleOut:
        return cls(
            id=row["id"],
            account_id=row["account_id"],
            plan_id=row["plan_id"],
            effective_from=row["effective_from"],
            effective_until=row["effective_until"],
            created_at=row["created_at"],
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
    def of(cls, row: dict[str, Any]) -> PurchaseOut:
        return cls(
            id=row["id"],
            account_id=row["account_id"],
            status="SUCCESS",
            type="ENTITLEMENT_GRANT",
            price_plan_id=row["plan_id"],
            rate_card_quantities={k: Decimal(v) for k, v in row["rate_card_quantities"].items()},
            idempotency_key=row["idempotency_key"],
            effective_from=row["effective_from"],
            effective_until=row["effective_until"],
            created_at=row["created_at"],
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
