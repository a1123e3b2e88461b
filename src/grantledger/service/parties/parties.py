"""Customers and accounts: the owners of credits."""

from __future__ import annotations

from dataclasses import dataclass, replace

from grantledger.domain import removal
from grantledger.domain.errors import Conflict, NotFound
from grantledger.service.context import Tenant
from grantledger.store.credits import credits as credit_store
from grantledger.store.entitlements import values
from grantledger.store.notifications import auto_topups
from grantledger.store.paging import Page
from grantledger.store.parties import parties as store
from grantledger.store.parties import ties
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


@dataclass(frozen=True)
class CustomerChanges:
    """A PATCH of a customer (Togai's UpdateCustomerRequest): None leaves a field as it is;
    an address replaces the whole address."""

    name: str | None
    primary_email: str | None
    address: JsonObject | None


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
    return await tenant.read_behind(lambda tx: store.list_customers(tx, after, limit))


async def update_customer(
    tenant: Tenant, customer_id: str, changes: CustomerChanges
) -> CustomerRecord:
    async def work(tx: Tx) -> CustomerRecord:
        record = await store.get_customer(tx, customer_id, lock=True)
        if record is None:
            raise NotFound(f"customer {customer_id} not found")
        updated = replace(
            record,
            name=_given(changes.name, record.name),
            primary_email=_given(changes.primary_email, record.primary_email),
            address=record.address if changes.address is None else changes.address,
        )
        if updated == record:
            return record  # nothing to change: updatedAt stays
        updated = replace(updated, updated_at=tenant.now())
        await store.update_customer(tx, updated)
        return updated

    return await tenant.run(work)


async def delete_customer(tenant: Tenant, customer_id: str) -> None:
    """Delete a customer that owns no account (409 naming them otherwise)."""

    async def work(tx: Tx) -> None:
        # Locked: an account being made for this customer waits, and is then refused (404),
        # or this deletion waits for it and then sees it.
        if await store.get_customer(tx, customer_id, lock=True) is None:
            raise NotFound(f"customer {customer_id} not found")
        first, total = await ties.customer_accounts(tx, customer_id)
        removal.check_customer_removable(customer_id, first, total)
        await store.delete_customer(tx, customer_id)

    await tenant.run(work)


async def create_account(tenant: Tenant, customer_id: str, account: NewAccount) -> AccountRecord:
    async def work(tx: Tx) -> AccountRecord:
        # Locked like a deletion of the customer locks it: the account is never made for a
        # customer deleted meanwhile.
        customer = await store.get_customer(tx, customer_id, lock=True)
        if customer is None:
            raise NotFound(f"customer {customer_id} not found")
        return await _insert_account(tenant, tx, customer, account)

    return await tenant.run(work)


async def get_account(tenant: Tenant, account_id: str) -> AccountRecord:
    return await tenant.found(
        lambda tx: store.get_account(tx, account_id), f"account {account_id} not found"
    )


async def list_accounts(tenant: Tenant, after: str | None, limit: int) -> Page[AccountRecord]:
    return await tenant.read_behind(lambda tx: store.list_accounts(tx, after, limit))


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


async def delete_account(tenant: Tenant, account_id: str) -> None:
    """Delete an account nothing of the ledger refers to (409 saying what does otherwise),
    with its settings: values set on it and its auto top-up."""

    async def work(tx: Tx) -> None:
        # The account lock every ledger write of the account takes first: a grant, hold,
        # entry or plan racing this deletion either commits before it (and is seen below) or
        # finds the account gone.
        if await store.get_account(tx, account_id, lock=True) is None:
            raise NotFound(f"account {account_id} not found")
        removal.check_account_removable(account_id, await ties.account_ties(tx, account_id))
        await values.delete_account_values(tx, account_id)
        await auto_topups.forget_topup(tx, account_id)
        await store.delete_account(tx, account_id)

    await tenant.run(work)
