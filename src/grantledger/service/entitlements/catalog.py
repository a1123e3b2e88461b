"""Event schemas, features and entitlement plans: what an organization sells and meters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from grantledger.domain import removal
from grantledger.domain.cycles import Cycle
from grantledger.domain.entitlements import PlanType, ValueType, check_value
from grantledger.domain.errors import Conflict, InvalidInput, NotFound
from grantledger.domain.passthrough import JsonObject
from grantledger.domain.plans import PlanFeature, check_plan_features
from grantledger.service.context import Tenant
from grantledger.store.entitlements import event_schemas, features, plans
from grantledger.store.entitlements.event_schemas import EventSchemaRecord
from grantledger.store.entitlements.features import Association, FeatureRecord
from grantledger.store.entitlements.plans import PlanRecord
from grantledger.store.paging import Page
from grantledger.store.tx import Tx


@dataclass(frozen=True)
class EventSchemaInput:
    name: str
    description: str | None
    attributes: list[JsonObject]  # Togai's attribute objects, stored and returned as sent
    dimensions: list[JsonObject]
    enrichments: JsonObject | None
    filter_fields: list[str] | None
    event_id_template: str | None


async def create_schema(tenant: Tenant, spec: EventSchemaInput) -> EventSchemaRecord:
    names = [a["name"] for a in spec.attributes]
    if len(names) != len(set(names)):
        raise InvalidInput("event schema attribute names must be distinct")

    async def work(tx: Tx) -> EventSchemaRecord:
        if await event_schemas.get_schema(tx, spec.name) is not None:
            raise Conflict(f"event schema {spec.name} already exists")
        now = tenant.now()
        schema = EventSchemaRecord(
            name=spec.name,
            version=1,
            description=spec.description,
            status="ACTIVE",
            attributes=spec.attributes,
            dimensions=spec.dimensions,
            enrichments=spec.enrichments,
            filter_fields=spec.filter_fields,
            event_id_template=spec.event_id_template,
            created_at=now,
            updated_at=now,
        )
        await event_schemas.insert_schema(tx, schema)
        return schema

    return await tenant.run(work)


async def get_schema(tenant: Tenant, name: str, version: int | None = None) -> EventSchemaRecord:
    async def work(tx: Tx) -> EventSchemaRecord | None:
        return await event_schemas.get_schema(tx, name)

    schema = await tenant.run(work)
    if schema is None:
        raise NotFound(f"event schema {name} not found")
    if version is not None and version != schema.version:
        raise NotFound(f"event schema {name} has no version {version}")
    return schema


async def list_schemas(
    tenant: Tenant, status: str | None, after: str | None, limit: int
) -> Page[EventSchemaRecord]:
    return await tenant.read_behind(lambda tx: event_schemas.list_schemas(tx, status, after, limit))


async def set_schema_status(tenant: Tenant, name: str, status: str) -> EventSchemaRecord:
    async def work(tx: Tx) -> EventSchemaRecord:
        schema = await event_schemas.get_schema(tx, name)
        if schema is None:
            raise NotFound(f"event schema {name} not found")
        now = tenant.now()
        await event_schemas.set_schema_status(tx, name, status, now)
        return replace(schema, status=status, updated_at=now)

    return await tenant.run(work)


async def delete_schema(tenant: Tenant, name: str) -> None:
    """Delete an event schema no feature consumes (409 naming the features otherwise). Events
    recorded under it stay: each keeps its schema name and attributes."""

    async def work(tx: Tx) -> None:
        if await event_schemas.get_schema(tx, name, lock="update") is None:
            raise NotFound(f"event schema {name} not found")
        removal.check_schema_removable(name, await event_schemas.schema_consumers(tx, name))
        await event_schemas.delete_schema(tx, name)

    await tenant.run(work)


async def _check_associations(tx: Tx, associations: Sequence[Association]) -> None:
    seen: set[str] = set()
    for schema_name, attribute in associations:
        if schema_name in seen:
            raise InvalidInput(f"schema {schema_name} is associated twice")
        seen.add(schema_name)
        # Share-locked: a deletion of the schema waits for this feature (and then refuses),
        # or this finds the schema gone (404).
        schema = await event_schemas.get_schema(tx, schema_name, lock="share")
        if schema is None:
            raise NotFound(f"event schema {schema_name} not found")
        names = schema.attribute_names
        if attribute not in names:
            raise InvalidInput(
                f"event schema {schema_name} has no attribute {attribute} "
                f"(it has: {', '.join(sorted(names)) or 'none'})"
            )


@dataclass(frozen=True)
class FeatureInput:
    id: str | None
    name: str
    billable_name: str | None
    associations: list[Association]
    value_type: ValueType
    allowed_values: list[str] | None


async def create_feature(tenant: Tenant, spec: FeatureInput) -> FeatureRecord:
    if spec.value_type is ValueType.ENUM and not spec.allowed_values:
        raise InvalidInput("an ENUM feature needs allowedValues")
    if spec.value_type is not ValueType.ENUM and spec.allowed_values:
        raise InvalidInput("allowedValues is only for ENUM features")

    async def work(tx: Tx) -> FeatureRecord:
        feature_id = spec.id or tenant.new_id("feature")
        if await features.get_feature(tx, feature_id) is not None:
            raise Conflict(f"feature {feature_id} already exists")
        await _check_associations(tx, spec.associations)
        now = tenant.now()
        feature = FeatureRecord(
            id=feature_id,
            name=spec.name,
            billable_name=spec.billable_name,
            value_type=spec.value_type,
            allowed_values=spec.allowed_values,
            associations=tuple(spec.associations),
            created_at=now,
            updated_at=now,
        )
        await features.insert_feature(tx, feature)
        return feature

    return await tenant.run(work)


async def get_feature(tenant: Tenant, feature_id: str) -> FeatureRecord:
    return await tenant.found(
        lambda tx: features.get_feature(tx, feature_id), f"feature {feature_id} not found"
    )


async def list_features(tenant: Tenant, after: str | None, limit: int) -> Page[FeatureRecord]:
    return await tenant.read_behind(lambda tx: features.list_features(tx, after, limit))


@dataclass(frozen=True)
class FeatureChanges:
    """A PATCH of a feature: None leaves a field as it is."""

    name: str | None
    billable_name: str | None
    associations: list[Association] | None


async def update_feature(tenant: Tenant, feature_id: str, changes: FeatureChanges) -> FeatureRecord:
    async def work(tx: Tx) -> FeatureRecord:
        feature = await features.get_feature(tx, feature_id)
        if feature is None:
            raise NotFound(f"feature {feature_id} not found")
        feature = replace(
            feature,
            name=changes.name if changes.name is not None else feature.name,
            billable_name=changes.billable_name
            if changes.billable_name is not None
            else feature.billable_name,
            updated_at=tenant.now(),
        )
        await features.update_feature(tx, feature)
        if changes.associations is not None:
            await _check_associations(tx, changes.associations)
            await features.set_feature_schemas(tx, feature_id, changes.associations)
            feature = replace(feature, associations=tuple(changes.associations))
        return feature

    return await tenant.run(work)


@dataclass(frozen=True)
class PlanInput:
    id: str | None
    name: str
    type: PlanType
    cycle: Cycle
    features: list[PlanFeature]
    # Days after a cycle closes during which an event stamped in it is still judged.
    grace_period_days: int | None = None


async def _check_plan_features(tx: Tx, items: Sequence[PlanFeature]) -> None:
    """Each feature exists, and its value (if any) is one the feature accepts."""
    known = await features.get_features(tx, [f.feature_id for f in items])
    for item in items:
        feature = known.get(item.feature_id)
        if feature is None:
            raise NotFound(f"feature {item.feature_id} not found")
        if item.value is not None:
            check_value(feature.value_type, feature.allowed_values, item.value)
        elif item.credits_per_cycle is None:
            raise InvalidInput(f"plan feature {item.feature_id} needs a value or creditsPerCycle")


async def create_plan(tenant: Tenant, spec: PlanInput) -> PlanRecord:
    check_plan_features(spec.type, spec.features)
    if spec.grace_period_days is not None and spec.type is not PlanType.BILLING:
        raise InvalidInput("gracePeriodDays applies to BILLING plans only")

    async def work(tx: Tx) -> PlanRecord:
        plan_id = spec.id or tenant.new_id("plan")
        if await plans.get_plan(tx, plan_id) is not None:
            raise Conflict(f"entitlement plan {plan_id} already exists")
        await _check_plan_features(tx, spec.features)
        plan = PlanRecord(
            id=plan_id,
            name=spec.name,
            type=spec.type,
            cycle=spec.cycle,
            features=tuple(spec.features),
            created_at=tenant.now(),
            grace_period_days=spec.grace_period_days,
        )
        await plans.insert_plan(tx, plan)
        return plan

    return await tenant.run(work)


async def get_plan(tenant: Tenant, plan_id: str) -> PlanRecord:
    return await tenant.found(
        lambda tx: plans.get_plan(tx, plan_id), f"entitlement plan {plan_id} not found"
    )


async def list_plans(tenant: Tenant, after: str | None, limit: int) -> Page[PlanRecord]:
    return await tenant.read_behind(lambda tx: plans.list_plans(tx, after, limit))
