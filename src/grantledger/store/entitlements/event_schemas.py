"""Event schemas: the shape of the usage events an organization sends."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from grantledger.store.paging import Page, fetch_page
from grantledger.store.tables import event_schemas, feature_schemas
from grantledger.store.tx import Tx


@dataclass(frozen=True)
class EventSchemaRecord:
    name: str
    version: int
    description: str | None
    status: str  # ACTIVE or INACTIVE
    attributes: list[dict[str, Any]]  # Togai's attribute objects, as sent
    dimensions: list[dict[str, Any]]
    enrichments: dict[str, Any] | None
    filter_fields: list[str] | None
    event_id_template: str | None
    created_at: datetime
    updated_at: datetime
    # (feature id, attribute name) of a feature that consumes the schema's events: Togai's
    # `featureDetails`, a single object in its client (the first feature by id when several).
    feature: tuple[str, str] | None = None

    @property
    def attribute_names(self) -> set[str]:
        return {a["name"] for a in self.attributes}


def _record(row: sa.Row[Any]) -> EventSchemaRecord:
    m = row._mapping
    extra = m["extra"]
    return EventSchemaRecord(
        name=m["name"],
        version=m["version"],
        description=m["description"],
        status=m["status"],
        attributes=m["attributes"],
        dimensions=m["dimensions"],
        enrichments=extra.get("enrichments"),
        filter_fields=extra.get("filterFields"),
        event_id_template=extra.get("eventIdTemplate"),
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


async def insert_schema(tx: Tx, schema: EventSchemaRecord) -> None:
    # The Togai fields grantledger only stores and returns share one JSON column.
    extra = {
        "enrichments": schema.enrichments,
        "filterFields": schema.filter_fields,
        "eventIdTemplate": schema.event_id_template,
    }
    await tx.conn.execute(
        event_schemas.insert().values(
            org_id=tx.org_id,
            name=schema.name,
            version=schema.version,
            description=schema.description,
            status=schema.status,
            attributes=schema.attributes,
            dimensions=schema.dimensions,
            extra={k: v for k, v in extra.items() if v is not None},
            created_at=schema.created_at,
            updated_at=schema.updated_at,
        )
    )


async def get_schema(tx: Tx, name: str, *, lock: str | None = None) -> EventSchemaRecord | None:
    """One schema and the first feature consuming it. `lock`: "share" keeps the schema from
    being deleted until commit (a feature being associated with it); "update" locks it
    against those (its deletion)."""
    query = sa.select(event_schemas).where(
        event_schemas.c.org_id == tx.org_id, event_schemas.c.name == name
    )
    if lock is not None:
        query = query.with_for_update(read=lock == "share")
    row = (await tx.conn.execute(query)).first()
    if row is None:
        return None
    return (await _with_features(tx, [_record(row)]))[0]


async def _with_features(tx: Tx, found: list[EventSchemaRecord]) -> list[EventSchemaRecord]:
    if not found:
        return found
    rows = await tx.conn.execute(
        sa.select(
            feature_schemas.c.schema_name,
            feature_schemas.c.feature_id,
            feature_schemas.c.attribute_name,
        )
        .where(
            feature_schemas.c.org_id == tx.org_id,
            feature_schemas.c.schema_name.in_([s.name for s in found]),
        )
        .order_by(feature_schemas.c.schema_name, feature_schemas.c.feature_id)
    )
    first: dict[str, tuple[str, str]] = {}
    for r in rows:
        first.setdefault(r.schema_name, (r.feature_id, r.attribute_name))
    return [replace(s, feature=first.get(s.name)) for s in found]


async def list_schemas(
    tx: Tx, status: str | None, after: str | None, limit: int
) -> Page[EventSchemaRecord]:
    query = sa.select(event_schemas).where(event_schemas.c.org_id == tx.org_id)
    if status is not None:
        query = query.where(event_schemas.c.status == status)
    page = await fetch_page(tx.conn, query, event_schemas.c.name, after=after, limit=limit)
    return Page(await _with_features(tx, [_record(r) for r in page.items]), page.last_key)


async def set_schema_status(tx: Tx, name: str, status: str, at: datetime) -> None:
    await tx.conn.execute(
        event_schemas.update()
        .where(event_schemas.c.org_id == tx.org_id, event_schemas.c.name == name)
        .values(status=status, updated_at=at)
    )


async def schema_consumers(tx: Tx, name: str) -> list[str]:
    """The ids of the features consuming a schema's events, in id order."""
    rows = await tx.conn.execute(
        sa.select(feature_schemas.c.feature_id)
        .where(feature_schemas.c.org_id == tx.org_id, feature_schemas.c.schema_name == name)
        .order_by(feature_schemas.c.feature_id)
    )
    return list(rows.scalars())


async def delete_schema(tx: Tx, name: str) -> None:
    await tx.conn.execute(
        event_schemas.delete().where(
            event_schemas.c.org_id == tx.org_id, event_schemas.c.name == name
        )
    )
