"""Customers and accounts rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from grantledger.store.backend import specialised
from grantledger.store.paging import Page, fetch_page
from grantledger.store.tables import accounts, customers
from grantledger.store.tx import Tx

# A JSON object stored as given: Togai fields grantledger keeps and returns without acting on them.
JsonObject = dict[str, Any]


@dataclass(frozen=True)
class CustomerRecord:
    id: str
    togai_customer_id: str
    name: str
    primary_email: str
    address: JsonObject
    settings: list[JsonObject] | None
    status: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class AccountRecord:
    id: str
    togai_account_id: str
    customer_id: str
    togai_customer_id: str
    name: str
    invoice_currency: str
    status: str
    attributes: JsonObject
    created_at: datetime
    updated_at: datetime


def _customer(row: sa.Row[Any]) -> CustomerRecord:
    return CustomerRecord(
        id=row.id,
        togai_customer_id=row.togai_customer_id,
        name=row.name,
        primary_email=row.primary_email,
        address=row.address,
        settings=row.settings,
        status=row.status,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _account(row: sa.Row[Any]) -> AccountRecord:
    return AccountRecord(
        id=row.id,
        togai_account_id=row.togai_account_id,
        customer_id=row.customer_id,
        togai_customer_id=row.togai_customer_id,
        name=row.name,
        invoice_currency=row.invoice_currency,
        status=row.status,
        attributes=row.attributes,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def insert_customer(tx: Tx, customer: CustomerRecord) -> None:
    await tx.conn.execute(
        customers.insert().values(
            org_id=tx.org_id,
            id=customer.id,
            togai_customer_id=customer.togai_customer_id,
            name=customer.name,
            primary_email=customer.primary_email,
            address=customer.address,
            settings=customer.settings,
            status=customer.status,
            created_at=customer.created_at,
            updated_at=customer.updated_at,
        )
    )


async def get_customer(tx: Tx, customer_id: str, *, lock: bool = False) -> CustomerRecord | None:
    """One customer; with `lock`, its row is locked until commit (a change or a deletion of
    it, or an account made for it, wait for each other)."""
    query = sa.select(customers).where(
        customers.c.org_id == tx.org_id, customers.c.id == customer_id
    )
    if lock:
        query = query.with_for_update()
    found = (await tx.conn.execute(query)).first()
    return _customer(found) if found else None


async def list_customers(tx: Tx, after: str | None, limit: int) -> Page[CustomerRecord]:
    query = sa.select(customers).where(customers.c.org_id == tx.org_id)
    page = await fetch_page(tx.conn, query, customers.c.id, after=after, limit=limit)
    return Page([_customer(r) for r in page.items], page.last_key)


async def update_customer(tx: Tx, customer: CustomerRecord) -> None:
    """Write the changeable fields of `customer` (its ids and creation stay)."""
    await tx.conn.execute(
        customers.update()
        .where(customers.c.org_id == tx.org_id, customers.c.id == customer.id)
        .values(
            name=customer.name,
            primary_email=customer.primary_email,
            address=customer.address,
            updated_at=customer.updated_at,
        )
    )


async def delete_customer(tx: Tx, customer_id: str) -> None:
    await tx.conn.execute(
        customers.delete().where(customers.c.org_id == tx.org_id, customers.c.id == customer_id)
    )


async def insert_account(tx: Tx, account: AccountRecord) -> None:
    await tx.conn.execute(
        accounts.insert().values(
            org_id=tx.org_id,
            id=account.id,
            togai_account_id=account.togai_account_id,
            customer_id=account.customer_id,
            togai_customer_id=account.togai_customer_id,
            name=account.name,
            invoice_currency=account.invoice_currency,
            status=account.status,
            attributes=account.attributes,
            created_at=account.created_at,
            updated_at=account.updated_at,
        )
    )


async def get_account(tx: Tx, account_id: str, *, lock: bool = False) -> AccountRecord | None:
    """One account; with `lock`, its row is locked until commit, serializing its ledger writes."""
    query = sa.select(accounts).where(accounts.c.org_id == tx.org_id, accounts.c.id == account_id)
    if lock:
        query = query.with_for_update()
    found = (await tx.conn.execute(query)).first()
    return _account(found) if found else None


async def share_lock_account(tx: Tx, account_id: str) -> None:
    """Wait for, then block, changes that lock the account row for update (a plan change)
    until commit; readers sharing the lock do not wait for each other. Statements after this
    one see what such a change committed. (SQLite serializes writers; nothing to do there.)"""
    query = (
        sa.select(accounts.c.id)
        .where(accounts.c.org_id == tx.org_id, accounts.c.id == account_id)
        .with_for_update(read=True)
    )
    await tx.conn.execute(query)


_SHARE_LOCK_ACCOUNTS = (
    sa.select(accounts.c.id)
    .where(
        accounts.c.org_id == sa.bindparam("org_id"),
        accounts.c.id.in_(sa.bindparam("ids", expanding=True)),
    )
    .order_by(accounts.c.id)
    .with_for_update(read=True)
)


async def share_lock_accounts(tx: Tx, account_ids: Sequence[str]) -> list[str]:
    """`share_lock_account` of several accounts in one statement, in id order (the order one
    at a time would take them in): the ids of those that exist. On PostgreSQL a fixed text on
    the driver (the gate's)."""
    return await share_lock_sorted(tx, sorted(set(account_ids)))


@specialised
async def share_lock_sorted(tx: Tx, ids: list[str]) -> list[str]:
    """`share_lock_accounts` of distinct ids in sorted order."""
    rows = await tx.conn.execute(_SHARE_LOCK_ACCOUNTS, {"org_id": tx.org_id, "ids": ids})
    return list(rows.scalars())


async def list_accounts(tx: Tx, after: str | None, limit: int) -> Page[AccountRecord]:
    query = sa.select(accounts).where(accounts.c.org_id == tx.org_id)
    page = await fetch_page(tx.conn, query, accounts.c.id, after=after, limit=limit)
    return Page([_account(r) for r in page.items], page.last_key)


async def update_account(tx: Tx, account: AccountRecord) -> None:
    """Write the changeable fields of `account` (its ids, owner and creation stay)."""
    await tx.conn.execute(
        accounts.update()
        .where(accounts.c.org_id == tx.org_id, accounts.c.id == account.id)
        .values(
            name=account.name,
            invoice_currency=account.invoice_currency,
            status=account.status,
            attributes=account.attributes,
            updated_at=account.updated_at,
        )
    )


async def delete_account(tx: Tx, account_id: str) -> None:
    await tx.conn.execute(
        accounts.delete().where(accounts.c.org_id == tx.org_id, accounts.c.id == account_id)
    )
