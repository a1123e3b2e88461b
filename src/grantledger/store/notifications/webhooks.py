"""Webhook endpoint rows. The secret is stored sealed; opening it needs the server key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from grantledger.store.paging import Page, fetch_page
from grantledger.store.tables import organizations, webhook_endpoints
from grantledger.store.tx import Tx


@dataclass(frozen=True)
class EndpointRecord:
    id: str
    url: str
    description: str | None
    event_types: list[str] | None
    status: str
    secret_sealed: str
    created_at: datetime
    updated_at: datetime

    def wants(self, event_type: str) -> bool:
        return self.status == "ACTIVE" and (
            self.event_types is None or event_type in self.event_types
        )


def _endpoint(row: sa.Row[Any]) -> EndpointRecord:
    m = row._mapping
    return EndpointRecord(**{k: m[k] for k in EndpointRecord.__dataclass_fields__})


async def insert_endpoint(tx: Tx, record: EndpointRecord) -> None:
    values = {k: getattr(record, k) for k in EndpointRecord.__dataclass_fields__}
    await tx.conn.execute(webhook_endpoints.insert().values(org_id=tx.org_id, **values))


async def update_endpoint(tx: Tx, record: EndpointRecord) -> None:
    values = {k: getattr(record, k) for k in EndpointRecord.__dataclass_fields__ if k != "id"}
    await tx.conn.execute(
        webhook_endpoints.update()
        .where(webhook_endpoints.c.org_id == tx.org_id, webhook_endpoints.c.id == record.id)
        .values(**values)
    )


async def delete_endpoint(tx: Tx, endpoint_id: str) -> None:
    await tx.conn.execute(
        webhook_endpoints.delete().where(
            webhook_endpoints.c.org_id == tx.org_id, webhook_endpoints.c.id == endpoint_id
        )
    )


async def get_endpoint(tx: Tx, endpoint_id: str, *, lock: bool = False) -> EndpointRecord | None:
    query = sa.select(webhook_endpoints).where(
        webhook_endpoints.c.org_id == tx.org_id, webhook_endpoints.c.id == endpoint_id
    )
    if lock:
        query = query.with_for_update()
    row = (await tx.conn.execute(query)).first()
    return _endpoint(row) if row else None


async def active_endpoints(tx: Tx, limit: int) -> list[EndpointRecord]:
    """The organization's first `limit` ACTIVE endpoints, oldest first."""
    query = (
        sa.select(webhook_endpoints)
        .where(webhook_endpoints.c.org_id == tx.org_id, webhook_endpoints.c.status == "ACTIVE")
        .order_by(webhook_endpoints.c.id)
        .limit(limit)
    )
    return [_endpoint(r) for r in (await tx.conn.execute(query)).all()]


async def count_endpoints(tx: Tx) -> int:
    """How many endpoints the organization has, with its row locked: creations queue here, so
    two at once cannot both see room for one more."""
    await tx.conn.execute(
        sa.select(organizations.c.id).where(organizations.c.id == tx.org_id).with_for_update()
    )
    query = sa.select(sa.func.count()).where(webhook_endpoints.c.org_id == tx.org_id)
    return int((await tx.conn.execute(query)).scalar_one())


async def list_endpoints(tx: Tx, after: str | None, limit: int) -> Page[EndpointRecord]:
    query = sa.select(webhook_endpoints).where(webhook_endpoints.c.org_id == tx.org_id)
    page = await fetch_page(tx.conn, query, webhook_endpoints.c.id, after=after, limit=limit)
    return Page([_endpoint(r) for r in page.items], page.last_key)


async def endpoints_by_id(
    conn: AsyncConnection, keys: set[tuple[str, str]]
) -> dict[tuple[str, str], EndpointRecord]:
    """(org id, endpoint id) → endpoint, for the delivery worker, which serves every tenant."""
    found: dict[tuple[str, str], EndpointRecord] = {}
    for org_id, endpoint_id in sorted(keys):
        row = (
            await conn.execute(
                sa.select(webhook_endpoints).where(
                    webhook_endpoints.c.org_id == org_id, webhook_endpoints.c.id == endpoint_id
                )
            )
        ).first()
        if row is not None:
            found[(org_id, endpoint_id)] = _endpoint(row)
    return found
