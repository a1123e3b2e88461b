"""Customers and accounts (Togai shapes; ids are chosen by the caller)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from grantledger.client.models._base import ApiModel, RequestBody
from grantledger.client.models.common import Address, CreateEntitySetting, PaginationOptions

__all__ = [
    "Account",
    "AccountAlias",
    "AccountPaginatedResponse",
    "AccountsBillingInformation",
    "CreateAccountAliasRequest",
    "CreateAccountRequest",
    "CreateAccountRequestWithoutCustomerId",
    "CreateCustomerRequest",
    "CreateCustomerResponse",
    "Customer",
    "CustomerPaginatedResponse",
    "UpdateAccountRequest",
    "UpdateCustomerRequest",
]


class CreateAccountAliasRequest(RequestBody):
    value: str
    effective_from: datetime | None = None
    effective_until: datetime | None = None


class AccountsBillingInformation(ApiModel):
    email_recipients: list[str] | None = None
    additional_email_recipients: list[str] | None = None


class CreateAccountRequestWithoutCustomerId(RequestBody):
    """An account; `invoice_currency` (default USD) is the unit of its credits."""

    id: str
    name: str
    invoice_currency: str | None = None
    aliases: list[str] | None = None
    account_aliases: list[CreateAccountAliasRequest] | None = None
    address: Address | None = None
    primary_email: str | None = None
    billing_information: AccountsBillingInformation | None = None
    settings: list[CreateEntitySetting] | None = None
    net_term_days: int | None = None
    metadata: dict[str, str] | None = None
    tags: list[str] | None = None
    status: Literal["ACTIVE", "DRAFT"] | None = None


class CreateAccountRequest(CreateAccountRequestWithoutCustomerId):
    customer_id: str


class UpdateAccountRequest(RequestBody):
    """Only the fields given change; `metadata` replaces the whole map (`{}` clears it)."""

    name: str | None = None
    status: Literal["ACTIVE", "DRAFT"] | None = None
    invoice_currency: str | None = None
    net_term_days: int | None = None
    primary_email: str | None = None
    billing_information: AccountsBillingInformation | None = None
    address: Address | None = None
    metadata: dict[str, str] | None = None
    tags: list[str] | None = None


class AccountAlias(ApiModel):
    alias: str | None = None


class Account(ApiModel):
    id: str
    togai_account_id: str
    togai_customer_id: str
    name: str
    customer_id: str
    status: str  # ACTIVE | DRAFT | ARCHIVED
    invoice_currency: str | None = None
    aliases: list[AccountAlias] | None = None
    net_term_days: int | None = None
    address: Address | None = None
    primary_email: str | None = None
    billing_information: AccountsBillingInformation | None = None
    settings: list[CreateEntitySetting] | None = None
    metadata: dict[str, str] | None = None
    tags: list[str] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class AccountPaginatedResponse(ApiModel):
    data: list[Account] = Field(default_factory=list)
    next_token: str | None = None
    context: PaginationOptions | None = None


class CreateCustomerRequest(RequestBody):
    """A customer, optionally with its first account (`account`)."""

    id: str
    name: str
    primary_email: str
    address: Address
    settings: list[CreateEntitySetting] | None = None
    account: CreateAccountRequestWithoutCustomerId | None = None


class UpdateCustomerRequest(RequestBody):
    """Only the fields given change; `address` replaces the whole address."""

    name: str | None = None
    primary_email: str | None = None
    address: Address | None = None


class Customer(ApiModel):
    id: str
    togai_customer_id: str
    name: str
    primary_email: str
    status: str  # ACTIVE | ARCHIVED
    created_at: datetime
    billing_address: str | None = None
    address: Address | None = None
    settings: list[CreateEntitySetting] | None = None
    updated_at: datetime | None = None


class CreateCustomerResponse(Customer):
    account: Account | None = None


class CustomerPaginatedResponse(ApiModel):
    data: list[Customer] = Field(default_factory=list)
    next_token: str | None = None
    context: PaginationOptions | None = None
