"""Purchases of PURCHASE plans (their entries are in `entries`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from grantledger.store.paging import Page, fetch_page
from grantledger.store.tables import purchases
from grantledger.store.tx import Tx


@dataclass(frozen=True)
class PurchaseRecord:
    id: str
    account_id: str
    plan_id: str
    # feature id -> rate-card quantity bought; None when the request named none (each at 1)
    rate_card_quantities: dict[str, Decimal] | None
    idempotency_key: str | None
    request_hash: str
    effective_from: date | None
    effective_until: date | None
    created_at: datetime
    quantity: int | None = None
    type: str | None = None
    expiry_date: datetime | None = None
    # Togai fields kept as sent and echoed, with no effect here (overrides, wallet top-up):
    # JSON text, made and read by the API layer.
    options: str | None = None


def _record(row: sa.Row[Any]) -> PurchaseRecord:
    m = row._mapping
    quantities = m["rate_card_quantities"]
    return PurchaseRecord(
        id=m["id"],
        account_id=m["account_id"],
        plan_id=m["plan_id"],
        # Exact decimal text in JSON: a JSON number would pass through a float.
        rate_card_quantities={k: Decimal(v) for k, v in quantities.items()} if quantities else None,
        idempotency_key=m["idempotency_key"],
        request_hash=m["request_hash"],
        effective_from=m["effective_from"],
        effective_until=m["effective_until"],
        created_at=m["created_at"],
        quantity=m["quantity"],
        type=m["type"],
        expiry_date=m["expiry_date"],
        options=m["options"],
    )


async def insert_purchase(tx: Tx, purchase: PurchaseRecord) -> None:
    quantities = purchase.rate_card_quantities or {}
    await tx.conn.execute(
        purchases.insert().values(
            id=purchase.id,
            org_id=tx.org_id,
            account_id=purchase.account_id,
            plan_id=purchase.plan_id,
            rate_card_quantities={k: str(v) for k, v in quantities.items()},
            idempotency_key=purchase.idempotency_key,
            request_hash=purchase.request_hash,
            effective_from=purchase.effective_from,
            effective_until=purchase.effective_until,
            created_at=purchase.created_at,
            quantity=purchase.quantity,
            type=purchase.type,
            expiry_date=purchase.expiry_date,
            options=purchase.options,
        )
    )


async def purchase_by_key(tx: Tx, key: str) -> PurchaseRecord | None:
    query = sa.select(purchases).where(
        purchases.c.org_id == tx.org_id, purchases.c.idempotency_key == key
    )
    row = (await tx.conn.execute(query)).first()
    return _record(row) if row is not None else None


async def get_purchase(tx: Tx, purchase_id: str) -> PurchaseRecord | None:
    query = sa.select(purchases).where(
        purchases.c.org_id == tx.org_id, purchases.c.id == purchase_id
    )
    row = (await tx.conn.execute(query)).first()
    return _record(row) if row is not None else None


async def account_purchases(
    tx: Tx, account_id: str, after: str | None, limit: int
) -> Page[PurchaseRecord]:
    """An account's purchases, newest first (ids are time-ordered)."""
    query = sa.select(purchases).where(
        purchases.c.org_id == tx.org_id, purchases.c.account_id == account_id
    )
    page = await fetch_page(
        tx.conn, query, purchases.c.id, after=after, limit=limit, descending=True
    )
    return Page([_record(r) for r in page.items], page.last_key)
