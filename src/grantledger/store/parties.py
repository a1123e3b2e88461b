"""Customers and accounts rows."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from grantledger.store.paging import Page, fetch_page
from grantledger.store.tables import accounts, customers


async def insert_customer(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(customers.insert().values(**values))


async def get_customer(
    conn: AsyncConnection, org_id: str, customer_id: str
) -> dict[str, Any] | None:
    row = await conn.execute(
        sa.select(customers).where(customers.c.org_id == org_id, customers.c.id == customer_id)
    )
    found = row.first()
    return dict(found._mapping) if found else None


async def list_customers(
    conn: AsyncConnection, org_id: str, after: str | None, limit: int
) -> Page[dict[str, Any]]:
    query = sa.select(customers).where(customers.c.org_id == org_id)
    page = await fetch_page(conn, query, customers.c.id, after=after, limit=limit)
    return Page([dict(r._mapping) for r in page.items], page.last_key)


async def insert_account(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(accounts.insert().values(**values))


async def get_account(
    conn: AsyncConnection, org_id: str, account_id: str, *, lock: bool = False
) -> dict[str, Any] | None:
    """One account; with `lock`, its row is locked until commit, serializing its ledger writes."""
    query = sa.select(accounts).where(accounts.c.org_id == org_id, accounts.c.id == account_id)
    if lock:
        query = query.with_for_update()
    found = (await conn.execute(query)).first()
    return dict(found._mapping) if found else None


async def share_lock_account(conn: AsyncConnection, org_id: str, account_id: str) -> None:
    """Wait for, then block, changes that lock the account row for update (a plan change)
    until commit; readers sharing the lock do not wait for each other. Statements after this
    one see what such a change committed. (SQLite serializes writers; nothing to do there.)"""
    query = (
        sa.select(accounts.c.id)
        .where(accounts.c.org_id == org_id, accounts.c.id == account_id)
        .with_for_update(read=True)
    )
    await conn.execute(query)


async def list_accounts(
    conn: AsyncConnection, org_id: str, after: str | None, limit: int
) -> Page[dict[str, Any]]:
    query = sa.select(accounts).where(accounts.c.org_id == org_id)
    page = await fetch_page(conn, query, accounts.c.id, after=after, limit=limit)
    return Page([dict(r._mapping) for r in page.items], page.last_key)


async def update_account(
    conn: AsyncConnection, org_id: str, account_id: str, values: dict[str, Any]
) -> None:
    await conn.execute(
        accounts.update()
        .where(accounts.c.org_id == org_id, accounts.c.id == account_id)
        .values(**values)
    )
