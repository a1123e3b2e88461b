"""Features and the event schema attributes that meter them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from grantledger.domain.entitlements import ValueType
from grantledger.store.paging import Page, fetch_page
from grantledger.store.tables import feature_schemas, features
from grantledger.store.tx import Tx

Association = tuple[str, str]  # (event schema name, attribute name)


@dataclass(frozen=True)
class FeatureRecord:
    id: str
    name: str
    billable_name: str | None
    value_type: ValueType
    allowed_values: list[str] | None
    associations: tuple[Association, ...]  # in the order they were given
    created_at: datetime
    updated_at: datetime


def _record(row: sa.Row[Any], associations: Sequence[Association]) -> FeatureRecord:
    m = row._mapping
    return FeatureRecord(
        id=m["id"],
        name=m["name"],
        billable_name=m["billable_name"],
        value_type=ValueType(m["value_type"]),
        allowed_values=m["allowed_values"],
        associations=tuple(associations),
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


async def insert_feature(tx: Tx, feature: FeatureRecord) -> None:
    await tx.conn.execute(
        features.insert().values(
            org_id=tx.org_id,
            id=feature.id,
            name=feature.name,
            billable_name=feature.billable_name,
            value_type=feature.value_type.value,
            allowed_values=feature.allowed_values,
            created_at=feature.created_at,
            updated_at=feature.updated_at,
        )
    )
    await set_feature_schemas(tx, feature.id, feature.associations)


async def update_feature(tx: Tx, feature: FeatureRecord) -> None:
    """Save the feature's names and time of change (its type and values never change)."""
    await tx.conn.execute(
        features.update()
        .where(features.c.org_id == tx.org_id, features.c.id == feature.id)
        .values(
            name=feature.name, billable_name=feature.billable_name, updated_at=feature.updated_at
        )
    )


async def set_feature_schemas(tx: Tx, feature_id: str, associations: Sequence[Association]) -> None:
    await tx.conn.execute(
        feature_schemas.delete().where(
            feature_schemas.c.org_id == tx.org_id, feature_schemas.c.feature_id == feature_id
        )
    )
    if associations:
        await tx.conn.execute(
            feature_schemas.insert(),
            [
                {
                    "org_id": tx.org_id,
                    "feature_id": feature_id,
                    "schema_name": schema,
                    "attribute_name": attribute,
                    "position": i,
                }
                for i, (schema, attribute) in enumerate(associations)
            ],
        )


async def _associations(tx: Tx, feature_ids: Sequence[str]) -> dict[str, list[Association]]:
    found: dict[str, list[Association]] = {f: [] for f in feature_ids}
    if not feature_ids:
        return found
    rows = await tx.conn.execute(
        sa.select(feature_schemas)
        .where(feature_schemas.c.org_id == tx.org_id, feature_schemas.c.feature_id.in_(feature_ids))
        .order_by(feature_schemas.c.feature_id, feature_schemas.c.position)
    )
    for r in rows:
        found[r.feature_id].append((r.schema_name, r.attribute_name))
    return found


async def _records(tx: Tx, rows: Sequence[sa.Row[Any]]) -> list[FeatureRecord]:
    links = await _associations(tx, [r.id for r in rows])
    return [_record(r, links[r.id]) for r in rows]


async def get_feature(tx: Tx, feature_id: str) -> FeatureRecord | None:
    query = sa.select(features).where(features.c.org_id == tx.org_id, features.c.id == feature_id)
    row = (await tx.conn.execute(query)).first()
    return (await _records(tx, [row]))[0] if row is not None else None


async def get_features(tx: Tx, feature_ids: Sequence[str]) -> dict[str, FeatureRecord]:
    if not feature_ids:
        return {}
    rows = await tx.conn.execute(
        sa.select(features).where(features.c.org_id == tx.org_id, features.c.id.in_(feature_ids))
    )
    return {f.id: f for f in await _records(tx, rows.all())}


async def list_features(tx: Tx, after: str | None, limit: int) -> Page[FeatureRecord]:
    query = sa.select(features).where(features.c.org_id == tx.org_id)
    page = await fetch_page(tx.conn, query, features.c.id, after=after, limit=limit)
    return Page(await _records(tx, page.items), page.last_key)
