"""Customers and accounts: the owners of credits."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from grantledger.domain.errors import Conflict, NotFound
from grantledger.service.context import Context
from grantledger.store import credits as credit_store
from grantledger.store import parties as store
from grantledger.store.paging import Page

Row = dict[str, Any]


async def _insert_account(
    ctx: Context, conn: AsyncConnection, org_id: str, customer: Row, values: Row
) -> Row:
    if await store.get_account(conn, org_id, values["id"]) is not None:
        raise Conflict(f"account {values['id']} already exists")
    now = ctx.now()
    row = {
        **values,
        "org_id": org_id,
        "customer_id": customer["id"],
        "togai_customer_id": customer["togai_customer_id"],
        "togai_account_id": ctx.new_id("account"),
        "created_at": now,
        "updated_at": now,
    }
    await store.insert_account(conn, row)
    return row


async def create_customer(
    ctx: Context, org_id: str, values: Row, account: Row | None
) -> tuple[Row, Row | None]:
    async def work(conn: AsyncConnection) -> tuple[Row, Row | None]:
        if await store.get_customer(conn, org_id, values["id"]) is not None:
            raise Conflict(f"customer {values['id']} already exists")
        now = ctx.now()
        row = {
            **values,
            "org_id": org_id,
            "togai_customer_id": ctx.new_id("customer"),
            "status": "ACTIVE",
            "created_at": now,
            "updated_at": now,
        }
        await store.insert_customer(conn, row)
        created = await _insert_account(ctx, conn, org_id, row, account) if account else None
        return row, created

    return await ctx.db.run(work)


async def get_customer(ctx: Context, org_id: str, customer_id: str) -> Row:
    async def work(conn: AsyncConnection) -> Row | None:
        return await store.get_customer(conn, org_id, customer_id)

    row = await ctx.db.run(work)
    if row is None:
        raise NotFound(f"customer {customer_id} not found")
    return row


async def list_customers(ctx: Context, org_id: str, after: str | None, limit: int) -> Page[Row]:
    async def work(conn: AsyncConnection) -> Page[Row]:
        return await store.list_customers(conn, org_id, after, limit)

    return await ctx.db.run(work)


async def create_account(ctx: Context, org_id: str, values: Row) -> Row:
    async def work(conn: AsyncConnection) -> Row:
        customer = await store.get_customer(conn, org_id, values["customer_id"])
        if customer is None:
            raise NotFound(f"customer {values['customer_id']} not found")
        return await _insert_account(ctx, conn, org_id, customer, values)

    return await ctx.db.run(work)


async def get_account(ctx: Context, org_id: str, account_id: str) -> Row:
    async def work(conn: AsyncConnection) -> Row | None:
        return await store.get_account(conn, org_id, account_id)

    row = await ctx.db.run(work)
    if row is None:
        raise NotFound(f"account {account_id} not found")
    return row


async def list_accounts(ctx: Context, org_id: str, after: str | None, limit: int) -> Page[Row]:
    async def work(conn: AsyncConnection) -> Page[Row]:
        return await store.list_accounts(conn, org_id, after, limit)

    return await ctx.db.run(work)


async def update_account(
    ctx: Context, org_id: str, account_id: str, columns: Row, attributes: Row
) -> Row:
    """Change the given columns and merge `attributes` (Togai's pass-through fields)."""

    async def work(conn: AsyncConnection) -> Row:
        row = await store.get_account(conn, org_id, account_id, lock=True)
        if row is None:
            raise NotFound(f"account {account_id} not found")
        currency = columns.get("invoice_currency", row["invoice_currency"])
        # Credits are denominated in the currency the account had when they were granted; a
        # different unit would mix currencies in one balance. (Grants lock this row too.)
        if currency != row["invoice_currency"] and await credit_store.account_has_credits(
            conn, org_id, account_id
        ):
            raise Conflict(
                f"account {account_id} holds credits in {row['invoice_currency']}; "
                f"its invoiceCurrency cannot change to {currency}"
            )
        merged = {**row["attributes"], **attributes}
        changes = {**columns, "attributes": merged, "updated_at": ctx.now()}
        await store.update_account(conn, org_id, account_id, changes)
        return {**row, **changes}

    return await ctx.db.run(work)
