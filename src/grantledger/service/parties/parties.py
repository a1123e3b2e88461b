"""Customers and accounts: the owners of credits."""

from __future__ import annotations

from dataclasses import dataclass, replace

from grantledger.domain.errors import Conflict, NotFound
from grantledger.service.context import Tenant
from grantledger.store.credits import credits as credit_store
from grantledger.store.paging import Page
from grantledger.store.parties import parties as store
from grantledger.store.parties.parties import AccountRecord, CustomerRecord, JsonObject
from grantledger.store.tx import Tx


@dataclass(frozen=True)
class NewCustomer:
    id: str
    name: str
    primary_email: str
    address: JsonObject
    settings: list[JsonObject] | None


@dataclass(frozen=True)
class NewAccount:
    id: str
    name: str
    invoice_currency: str
    status: str
    attributes: JsonObject


@dataclass(frozen=True)
class AccountChanges:
    """A PATCH of an account: the fields given (None leaves one as it is), and the
    pass-through attributes to merge over the stored ones."""

    name: str | None
    status: str | None
    invoice_currency: str | None
    attributes: JsonObject


def _given(change: str | None, current: str) -> str:
    return current if change is None else change


async def _insert_account(
    tenant: Tenant, tx: Tx, customer: CustomerRecord, account: NewAccount
) -> AccountRecord:
    if await store.get_account(tx, account.id) is not None:
        raise Conflict(f"account {account.id} already exists")
    now = tenant.now()
    record = AccountRecord(
        id=account.id,
        togai_account_id=tenant.new_id("account"),
        customer_id=customer.id,
        togai_customer_id=customer.togai_customer_id,
        name=account.name,
        invoice_currency=account.invoice_currency,
        status=account.status,
        attributes=account.attributes,
        created_at=now,
        updated_at=now,
    )
    await store.insert_account(tx, record)
    return record


async def create_customer(
    tenant: Tenant, customer: NewCustomer, account: NewAccount | None
) -> tuple[CustomerRecord, AccountRecord | None]:
    async def work(tx: Tx) -> tuple[CustomerRecord, AccountRecord | None]:
        if await store.get_customer(tx, customer.id) is not None:
            raise Conflict(f"customer {customer.id} already exists")
        now = tenant.now()
        record = CustomerRecord(
            id=customer.id,
            togai_customer_id=tenant.new_id("customer"),
            name=customer.name,
            primary_email=customer.primary_email,
            address=customer.address,
            settings=customer.settings,
            status="ACTIVE",
            created_at=now,
            updated_at=now,
        )
        await store.insert_customer(tx, record)
        created = await _insert_account(tenant, tx, record, account) if account else None
        return record, created

    return await tenant.run(work)


async def get_customer(tenant: Tenant, customer_id: str) -> CustomerRecord:
    return await tenant.found(
        lambda tx: store.get_customer(tx, customer_id), f"customer {customer_id} not found"
    )


async def list_customers(tenant: Tenant, after: str | None, limit: int) -> Page[CustomerRecord]:
    return await tenant.run(lambda tx: store.list_customers(tx, after, limit))


async def create_account(tenant: Tenant, customer_id: str, account: NewAccount) -> AccountRecord:
    async def work(tx: Tx) -> AccountRecord:
        customer = await store.get_customer(tx, customer_id)
        if customer is None:
            raise NotFound(f"customer {customer_id} not found")
        return await _insert_account(tenant, tx, customer, account)

    return await tenant.run(work)


async def get_account(tenant: Tenant, account_id: str) -> AccountRecord:
    return await tenant.found(
        lambda tx: store.get_account(tx, account_id), f"account {account_id} not found"
    )


async def list_accounts(tenant: Tenant, after: str | None, limit: int) -> Page[AccountRecord]:
    return await tenant.run(lambda tx: store.list_accounts(tx, after, limit))


async def update_account(tenant: Tenant, account_id: str, changes: AccountChanges) -> AccountRecord:
    """Change the given fields and merge the attributes (Togai's pass-through fields)."""

    async def work(tx: Tx) -> AccountRecord:
        record = await store.get_account(tx, account_id, lock=True)
        if record is None:
            raise NotFound(f"account {account_id} not found")
        currency = _given(changes.invoice_currency, record.invoice_currency)
        # Credits are denominated in the currency the account had when they were granted; a
        # different unit would mix currencies in one balance. (Grants lock this row too.)
        if currency != record.invoice_currency and await credit_store.account_has_credits(
            tx, account_id
        ):
            raise Conflict(
                f"account {account_id} holds credits in {record.invoice_currency}; "
                f"its invoiceCurrency cannot change to {currency}"
            )
        updated = replace(
            record,
            name=_given(changes.name, record.name),
            status=_given(changes.status, record.status),
            invoice_currency=currency,
            attributes={**record.attributes, **changes.attributes},
            updated_at=tenant.now(),
        )
        await store.update_account(tx, updated)
        return updated

    return await tenant.run(work)
