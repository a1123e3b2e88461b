"""Event schemas, features and entitlement plans on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, cast

from pydantic import Field, StrictInt, StrictStr

from grantledger.api.schemas.common import MAX_ITEMS, Id50, NewId, Short, Text
from grantledger.api.wire import Amount, NonNegativeAmount, RequestModel, ResponseModel
from grantledger.domain.passthrough import JsonObject
from grantledger.domain.plans import Rollover
from grantledger.service.entitlements.catalog import EventSchemaInput
from grantledger.store.entitlements.event_schemas import EventSchemaRecord
from grantledger.store.entitlements.features import FeatureRecord
from grantledger.store.entitlements.plans import PlanRecord

SchemaName = Annotated[StrictStr, Field(min_length=1, max_length=50, pattern=r"^[\sa-zA-Z0-9_-]*$")]
Text255 = Annotated[StrictStr, Field(min_length=1, max_length=255)]

# --- event schemas ---------------------------------------------------------------------------


class SchemaAttribute(RequestModel):
    name: SchemaName
    default_unit: Annotated[StrictStr, Field(max_length=10)] | None = None


class SchemaDimension(RequestModel):
    name: SchemaName


class EnrichmentDependency(RequestModel):
    type: Short
    key: Short
    name: Short


class EnrichmentField(RequestModel):
    name: Short
    type: Literal["ATTRIBUTE", "DIMENSION"]
    enrichment_type: Short
    value: Text
    order: Annotated[StrictInt, Field(ge=-(2**31), le=2**31 - 1)]


class Enrichments(RequestModel):
    """Togai's shape, stored and returned as sent (typed, so no free-form number reaches
    the JSON columns or the response encoder)."""

    dependencies: Annotated[list[EnrichmentDependency], Field(max_length=MAX_ITEMS)] | None = None
    fields: Annotated[list[EnrichmentField], Field(max_length=MAX_ITEMS)]


class CreateEventSchemaRequest(RequestModel):
    name: SchemaName
    description: Annotated[StrictStr, Field(max_length=255)] | None = None
    attributes: Annotated[list[SchemaAttribute], Field(max_length=50)]
    dimensions: Annotated[list[SchemaDimension], Field(max_length=50)]
    enrichments: Enrichments | None = None
    filter_fields: Annotated[list[Short], Field(max_length=MAX_ITEMS)] | None = None
    event_id_template: Text | None = None

    def to_input(self) -> EventSchemaInput:
        return EventSchemaInput(
            name=self.name,
            description=self.description,
            attributes=[a.model_dump(by_alias=True, exclude_none=True) for a in self.attributes],
            dimensions=[d.model_dump(by_alias=True) for d in self.dimensions],
            enrichments=self.enrichments.model_dump(by_alias=True, exclude_none=True)
            if self.enrichments is not None
            else None,
            filter_fields=self.filter_fields,
            event_id_template=self.event_id_template,
        )


class FeatureDetailsOut(ResponseModel):
    """Togai's FeatureDetails: one object (the 1.0.3 client parses a list as an error)."""

    feature_id: str
    attribute_name: str


class EventSchemaOut(ResponseModel):
    name: str
    version: int
    description: str | None = None
    status: Literal["ACTIVE", "INACTIVE"]
    attributes: list[JsonObject]
    dimensions: list[JsonObject]
    enrichments: Any | None = None
    filter_fields: list[str] | None = None
    feature_details: FeatureDetailsOut | None = None
    event_id_template: str | None = None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, schema: EventSchemaRecord) -> EventSchemaOut:
        feature = schema.feature
        return cls(
            name=schema.name,
            version=schema.version,
            description=schema.description,
            status=cast(Literal["ACTIVE", "INACTIVE"], schema.status),
            attributes=schema.attributes,
            dimensions=schema.dimensions,
            enrichments=schema.enrichments,
            filter_fields=schema.filter_fields,
            feature_details=FeatureDetailsOut(feature_id=feature[0], attribute_name=feature[1])
            if feature is not None
            else None,
            event_id_template=schema.event_id_template,
            created_at=schema.created_at,
            updated_at=schema.updated_at,
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
    id: NewId | None = None
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
    value_type: ValueTypeName
    allowed_values: list[str] | None = None
    created_at: datetime
    updated_at: datetime | None = None

    @classmethod
    def of(cls, feature: FeatureRecord) -> FeatureOut:
        return cls(
            id=feature.id,
            name=feature.name,
            display_name=feature.billable_name or feature.name,
            billable_name=feature.billable_name,
            schema_associations=[
                AssociationOut(schema_name=s, attribute_name=a) for s, a in feature.associations
            ],
            value_type=feature.value_type.value,
            allowed_values=feature.allowed_values,
            created_at=feature.created_at,
            updated_at=feature.updated_at,
        )


class FeatureListItem(ResponseModel):
    id: str
    name: str
    display_name: str
    billable_name: str | None = None
    schema_count: int
    value_type: ValueTypeName
    created_at: datetime
    updated_at: datetime | None = None

    @classmethod
    def of(cls, feature: FeatureRecord) -> FeatureListItem:
        return cls(
            id=feature.id,
            name=feature.name,
            display_name=feature.billable_name or feature.name,
            billable_name=feature.billable_name,
            schema_count=len(feature.associations),
            value_type=feature.value_type.value,
            created_at=feature.created_at,
            updated_at=feature.updated_at,
        )


class FeaturePage(ResponseModel):
    data: list[FeatureListItem]
    next_token: str | None = None


# --- plans -------------------------------------------------------------------------------------


class RolloverRequest(RequestModel):
    """Extension: what of a cycle's unused allowance moves on, and for how many cycles."""

    max_units: NonNegativeAmount | None = None
    max_cycles: Annotated[StrictInt, Field(ge=1, le=120)] | None = None


class PlanFeatureRequest(RequestModel):
    feature_id: Id50
    value: Text255 | None = None
    credits_per_cycle: NonNegativeAmount | None = None
    overage_per_cycle: NonNegativeAmount | None = None
    validity: Annotated[StrictStr, Field(max_length=20)] | None = None
    rollover: RolloverRequest | None = None


class CreatePlanRequest(RequestModel):
    id: NewId | None = None
    name: Text255
    type: Literal["BILLING", "PURCHASE"]
    cycle: Literal["WEEKLY", "MONTHLY", "QUARTERLY", "HALF_YEARLY", "ANNUALLY"] = "MONTHLY"
    features: Annotated[list[PlanFeatureRequest], Field(min_length=1, max_length=50)]
    # Extension: days after a cycle closes during which an event stamped in it is judged.
    grace_period_days: Annotated[StrictInt, Field(ge=0, le=366)] | None = None


class RolloverOut(ResponseModel):
    max_units: Amount | None = None
    max_cycles: int | None = None

    @classmethod
    def of(cls, rollover: Rollover) -> RolloverOut:
        return cls(max_units=rollover.max_units, max_cycles=rollover.max_cycles)


class PlanFeatureOut(ResponseModel):
    feature_id: str
    value: str | None = None
    credits_per_cycle: Amount | None = None
    overage_per_cycle: Amount | None = None
    validity: str | None = None
    rollover: RolloverOut | None = None


class PlanOut(ResponseModel):
    id: str
    name: str
    type: Literal["BILLING", "PURCHASE"]
    cycle: Literal["WEEKLY", "MONTHLY", "QUARTERLY", "HALF_YEARLY", "ANNUALLY"]
    features: list[PlanFeatureOut]
    created_at: datetime
    grace_period_days: int | None = None

    @classmethod
    def of(cls, plan: PlanRecord) -> PlanOut:
        return cls(
            id=plan.id,
            name=plan.name,
            type=plan.type.value,
            cycle=plan.cycle.value,
            features=[
                PlanFeatureOut(
                    feature_id=f.feature_id,
                    value=f.value,
                    credits_per_cycle=f.credits_per_cycle,
                    overage_per_cycle=f.overage_per_cycle,
                    validity=f.validity,
                    rollover=(
                        RolloverOut(
                            max_units=f.rollover.max_units, max_cycles=f.rollover.max_cycles
                        )
                        if f.rollover is not None
                        else None
                    ),
                )
                for f in plan.features
            ],
            created_at=plan.created_at,
            grace_period_days=plan.grace_period_days,
        )


class PlanPage(ResponseModel):
    data: list[PlanOut]
    next_token: str | None = None
