"""Event schemas, features and entitlement plans: what an organization sells and meters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from grantledger.domain.entitlements import PlanType, ValueType, check_value, parse_validity
from grantledger.domain.errors import Conflict, InvalidInput, NotFound
from grantledger.service.context import Context
from grantledger.store import entitlements as store
from grantledger.store.paging import Page

Row = dict[str, Any]


async def create_schema(ctx: Context, org_id: str, values: Row) -> Row:
    async def work(conn: AsyncConnection) -> Row:
        if await store.get_schema(conn, org_id, values["name"]) is not None:
            raise Conflict(f"event schema {values['name']} already exists")
        now = ctx.now()
        row = {**values, "org_id": org_id, "version": 1, "created_at": now, "updated_at": now}
        await store.insert_schema(conn, row)
        return row

    return await ctx.db.run(work)


async def get_schema(ctx: Context, org_id: str, name: str, version: int | None = None) -> Row:
    async def work(conn: AsyncConnection) -> Row | None:
        return await store.get_schema(conn, org_id, name)

    row = await ctx.db.run(work)
    if row is None:
        raise NotFound(f"event schema {name} not found")
    if version is not None and version != row["version"]:
        raise NotFound(f"event schema {name} has no version {version}")
    return row


async def list_schemas(
    ctx: Context, org_id: str, status: str | None, after: str | None, limit: int
) -> Page[Row]:
    async def work(conn: AsyncConnection) -> Page[Row]:
        return await store.list_schemas(conn, org_id, status, after, limit)

    return await ctx.db.run(work)


async def set_schema_status(ctx: Context, org_id: str, name: str, status: str) -> Row:
    async def work(conn: AsyncConnection) -> Row:
        row = await store.get_schema(conn, org_id, name)
        if row is None:
            raise NotFound(f"event schema {name} not found")
        changes = {"status": status, "updated_at": ctx.now()}
        await store.update_schema(conn, org_id, name, changes)
        return {**row, **changes}

    return await ctx.db.run(work)


async def _check_associations(
    conn: AsyncConnection, org_id: str, associations: Sequence[tuple[str, str]]
) -> None:
    seen: set[str] = set()
    for schema_name, attribute in associations:
        if schema_name in seen:
            raise InvalidInput(f"schema {schema_name} is associated twice")
        seen.add(schema_name)
        schema = await store.get_schema(conn, org_id, schema_name)
        if schema is None:
            raise NotFound(f"event schema {schema_name} not found")
        names = {a["name"] for a in schema["attributes"]}
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
    associations: list[tuple[str, str]]
    value_type: ValueType
    allowed_values: list[str] | None


async def create_feature(ctx: Context, org_id: str, spec: FeatureInput) -> Row:
    if spec.value_type is ValueType.ENUM and not spec.allowed_values:
        raise InvalidInput("an ENUM feature needs allowedValues")
    if spec.value_type is not ValueType.ENUM and spec.allowed_values:
        raise InvalidInput("allowedValues is only for ENUM features")

    async def work(conn: AsyncConnection) -> Row:
        feature_id = spec.id or ctx.new_id("feature")
        if await store.get_feature(conn, org_id, feature_id) is not None:
            raise Conflict(f"feature {feature_id} already exists")
        await _check_associations(conn, org_id, spec.associations)
        now = ctx.now()
        row = {
            "org_id": org_id,
            "id": feature_id,
            "name": spec.name,
            "billable_name": spec.billable_name,
            "value_type": spec.value_type.value,
            "allowed_values": spec.allowed_values,
            "created_at": now,
            "updated_at": now,
        }
        await store.insert_feature(conn, row)
        await store.set_feature_schemas(conn, org_id, feature_id, spec.associations)
        return {**row, "associations": spec.associations}

    return await ctx.db.run(work)


async def get_feature(ctx: Context, org_id: str, feature_id: str) -> Row:
    async def work(conn: AsyncConnection) -> Row | None:
        return await store.get_feature(conn, org_id, feature_id)

    row = await ctx.db.run(work)
    if row is None:
        raise NotFound(f"feature {feature_id} not found")
    return row


async def list_features(ctx: Context, org_id: str, after: str | None, limit: int) -> Page[Row]:
    async def work(conn: AsyncConnection) -> Page[Row]:
        return await store.list_features(conn, org_id, after, limit)

    return await ctx.db.run(work)


async def update_feature(
    ctx: Context,
    org_id: str,
    feature_id: str,
    changes: Row,
    associations: list[tuple[str, str]] | None,
) -> Row:
    async def work(conn: AsyncConnection) -> Row:
        row = await store.get_feature(conn, org_id, feature_id)
        if row is None:
            raise NotFound(f"feature {feature_id} not found")
        values = {**changes, "updated_at": ctx.now()}
        await store.update_feature(conn, org_id, feature_id, values)
        if associations is not None:
            await _check_associations(conn, org_id, associations)
            await store.set_feature_schemas(conn, org_id, feature_id, associations)
            row["associations"] = associations
        return {**row, **values}

    return await ctx.db.run(work)


@dataclass(frozen=True)
class PlanFeature:
    feature_id: str
    value: str | None
    credits_per_cycle: Decimal | None
    overage_per_cycle: Decimal | None
    validity: str | None

    def to_json(self) -> Row:
        return {
            "featureId": self.feature_id,
            "value": self.value,
            "creditsPerCycle": str(self.credits_per_cycle)
            if self.credits_per_cycle is not None
            else None,
            "overagePerCycle": str(self.overage_per_cycle)
            if self.overage_per_cycle is not None
            else None,
            "validity": self.validity,
        }


def plan_features(row: Row) -> list[PlanFeature]:
    """The features of a stored plan (amounts kept as exact decimal text in JSON)."""
    return [
        PlanFeature(
            feature_id=f["featureId"],
            value=f.get("value"),
            credits_per_cycle=Decimal(f["creditsPerCycle"])
            if f.get("creditsPerCycle") is not None
            else None,
            overage_per_cycle=Decimal(f["overagePerCycle"])
            if f.get("overagePerCycle") is not None
            else None,
            validity=f.get("validity"),
        )
        for f in row["features"]
    ]


async def create_plan(
    ctx: Context,
    org_id: str,
    plan_id: str | None,
    name: str,
    plan_type: PlanType,
    cycle: str,
    items: list[PlanFeature],
) -> Row:
    ids = [f.feature_id for f in items]
    if len(ids) != len(set(ids)):
        raise InvalidInput("a plan lists each feature once")
    for item in items:
        if item.validity is not None:
            parse_validity(item.validity)
        if plan_type is PlanType.PURCHASE and item.overage_per_cycle is not None:
            raise InvalidInput("overagePerCycle applies to BILLING plans only")

    async def work(conn: AsyncConnection) -> Row:
        new_id = plan_id or ctx.new_id("plan")
        if await store.get_plan(conn, org_id, new_id) is not None:
            raise Conflict(f"entitlement plan {new_id} already exists")
        known = await store.get_features(conn, org_id, ids)
        for item in items:
            feature = known.get(item.feature_id)
            if feature is None:
                raise NotFound(f"feature {item.feature_id} not found")
            if item.value is not None:
                check_value(ValueType(feature["value_type"]), feature["allowed_values"], item.value)
            elif item.credits_per_cycle is None:
                raise InvalidInput(
                    f"plan feature {item.feature_id} needs a value or creditsPerCycle"
                )
        row = {
            "org_id": org_id,
            "id": new_id,
            "name": name,
            "type": plan_type.value,
            "cycle": cycle,
            "features": [i.to_json() for i in items],
            "created_at": ctx.now(),
        }
        await store.insert_plan(conn, row)
        return row

    return await ctx.db.run(work)


async def get_plan(ctx: Context, org_id: str, plan_id: str) -> Row:
    async def work(conn: AsyncConnection) -> Row | None:
        return await store.get_plan(conn, org_id, plan_id)

    row = await ctx.db.run(work)
    if row is None:
        raise NotFound(f"entitlement plan {plan_id} not found")
    return row


async def list_plans(ctx: Context, org_id: str, after: str | None, limit: int) -> Page[Row]:
    async def work(conn: AsyncConnection) -> Page[Row]:
        return await store.list_plans(conn, org_id, after, limit)

    return await ctx.db.run(work)
