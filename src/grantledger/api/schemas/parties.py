"""Customers and accounts on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, cast

from pydantic import Field, StrictStr, model_validator

from grantledger.api.schemas.common import (
    MAX_EMAILS,
    MAX_METADATA,
    MAX_TAGS,
    Address,
    EntitySetting,
    Int32,
    NewId,
    PaginationOptions,
    Short,
    Text,
)
from grantledger.api.wire import RequestModel, ResponseModel, WireDateTime
from grantledger.domain.passthrough import JsonObject
from grantledger.service.parties.parties import (
    AccountChanges,
    CustomerChanges,
    NewAccount,
    NewCustomer,
)
from grantledger.store.parties.parties import AccountRecord, CustomerRecord

Name = Annotated[StrictStr, Field(min_length=3, max_length=255)]
Email = Annotated[StrictStr, Field(max_length=320)]
Currency = Annotated[StrictStr, Field(pattern=r"^[A-Z]{3}$")]


class AccountAliasRequest(RequestModel):
    value: Annotated[StrictStr, Field(min_length=1, max_length=50)]
    effective_from: WireDateTime | None = None
    effective_until: WireDateTime | None = None


Emails = Annotated[list[Email], Field(max_length=MAX_EMAILS)]
Metadata = Annotated[
    dict[Annotated[StrictStr, Field(min_length=1, max_length=255)], Text],
    Field(max_length=MAX_METADATA),
]
Tags = Annotated[list[Short], Field(max_length=MAX_TAGS)]


class BillingInformation(RequestModel):
    email_recipients: Emails | None = None
    additional_email_recipients: Emails | None = None


class AccountFields(RequestModel):
    """CreateAccountRequestWithoutCustomerId: every field Togai accepts."""

    id: NewId
    name: Name
    invoice_currency: Currency = "USD"
    aliases: (
        Annotated[
            list[Annotated[StrictStr, Field(min_length=3, max_length=50)]], Field(max_length=10)
        ]
        | None
    ) = None
    account_aliases: Annotated[list[AccountAliasRequest], Field(max_length=10)] | None = None
    address: Address | None = None
    primary_email: Email | None = None
    billing_information: BillingInformation | None = None
    settings: Annotated[list[EntitySetting], Field(max_length=10)] | None = None
    net_term_days: Annotated[Int32, Field(ge=0)] | None = None
    metadata: Metadata | None = None
    tags: Tags | None = None
    status: Literal["ACTIVE", "DRAFT"] = "ACTIVE"

    @model_validator(mode="after")
    def _ten_aliases(self) -> AccountFields:
        # Both lists end up in the account's one `aliases` list, which Togai caps at 10.
        if len(self.aliases or []) + len(self.account_aliases or []) > 10:
            raise ValueError("aliases and accountAliases together hold at most 10 aliases")
        return self

    def to_new(self) -> NewAccount:
        aliases = list(self.aliases or []) + [a.value for a in self.account_aliases or []]
        attributes = self.model_dump(
            by_alias=True,
            exclude_none=True,
            mode="json",
            exclude={"id", "name", "invoice_currency", "status", "aliases", "account_aliases"},
        )
        if self.tags is not None:
            attributes["tags"] = [t.lower() for t in self.tags]
        attributes["aliases"] = aliases
        return NewAccount(
            id=self.id,
            name=self.name,
            invoice_currency=self.invoice_currency,
            status=self.status,
            attributes=attributes,
        )


class CreateAccountRequest(AccountFields):
    customer_id: Annotated[StrictStr, Field(min_length=1, max_length=255)]


class UpdateAccountRequest(RequestModel):
    name: Name | None = None
    status: Literal["ACTIVE", "DRAFT"] | None = None
    invoice_currency: Currency | None = None
    net_term_days: Annotated[Int32, Field(ge=0)] | None = None
    primary_email: Email | None = None
    billing_information: BillingInformation | None = None
    address: Address | None = None
    metadata: Metadata | None = None
    tags: Tags | None = None

    def to_changes(self) -> AccountChanges:
        """The named fields to change, and the pass-through attributes to merge."""
        attributes = self.model_dump(
            by_alias=True,
            exclude_none=True,
            mode="json",
            exclude={"name", "status", "invoice_currency"},
        )
        if self.tags is not None:
            attributes["tags"] = [t.lower() for t in self.tags]
        return AccountChanges(
            name=self.name,
            status=self.status,
            invoice_currency=self.invoice_currency,
            attributes=attributes,
        )


class AliasOut(ResponseModel):
    alias: str


class AccountOut(ResponseModel):
    id: str
    togai_account_id: str
    togai_customer_id: str
    name: str
    customer_id: str
    status: Literal["ACTIVE", "DRAFT"]
    invoice_currency: str
    aliases: list[AliasOut] | None = None
    net_term_days: int | None = None
    address: JsonObject | None = None
    primary_email: str | None = None
    billing_information: JsonObject | None = None
    settings: list[JsonObject] | None = None
    metadata: dict[str, str] | None = None
    tags: list[str] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def of(cls, account: AccountRecord) -> AccountOut:
        attrs = dict(account.attributes)
        aliases = [AliasOut(alias=a) for a in attrs.pop("aliases", [])]
        return cls(
            id=account.id,
            togai_account_id=account.togai_account_id,
            togai_customer_id=account.togai_customer_id,
            name=account.name,
            customer_id=account.customer_id,
            # Validated by pydantic against the Literal: a value outside it is a server bug.
            status=cast(Literal["ACTIVE", "DRAFT"], account.status),
            invoice_currency=account.invoice_currency,
            aliases=aliases,
            net_term_days=attrs.get("netTermDays"),
            address=attrs.get("address"),
            primary_email=attrs.get("primaryEmail"),
            billing_information=attrs.get("billingInformation"),
            settings=attrs.get("settings"),
            metadata=attrs.get("metadata"),
            tags=attrs.get("tags"),
            created_at=account.created_at,
            updated_at=account.updated_at,
        )


class AccountPage(ResponseModel):
    data: list[AccountOut]
    next_token: str | None = None
    context: PaginationOptions | None = None


class CreateCustomerRequest(RequestModel):
    id: NewId
    name: Name
    primary_email: Email
    address: Address
    settings: Annotated[list[EntitySetting], Field(max_length=10)] | None = None
    account: AccountFields | None = None

    def to_new(self) -> NewCustomer:
        return NewCustomer(
            id=self.id,
            name=self.name,
            primary_email=self.primary_email,
            address=self.address.model_dump(by_alias=True, exclude_none=True),
            settings=[s.model_dump(by_alias=True) for s in self.settings]
            if self.settings is not None
            else None,
        )


class UpdateCustomerRequest(RequestModel):
    """Togai's UpdateCustomerRequest: only the fields given change; `address` is replaced."""

    name: Name | None = None
    primary_email: Email | None = None
    address: Address | None = None

    def to_changes(self) -> CustomerChanges:
        return CustomerChanges(
            name=self.name,
            primary_email=self.primary_email,
            address=(
                self.address.model_dump(by_alias=True, exclude_none=True)
                if self.address is not None
                else None
            ),
        )


def billing_address(address: JsonObject) -> str:
    parts = ("line1", "line2", "city", "state", "postalCode", "country")
    return ", ".join(str(address[p]) for p in parts if address.get(p))[:1000]


class CustomerOut(ResponseModel):
    id: str
    togai_customer_id: str
    name: str
    primary_email: str
    billing_address: str
    address: JsonObject
    status: str
    settings: list[JsonObject] | None = None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, customer: CustomerRecord) -> CustomerOut:
        return cls(
            id=customer.id,
            togai_customer_id=customer.togai_customer_id,
            name=customer.name,
            primary_email=customer.primary_email,
            billing_address=billing_address(customer.address),
            address=customer.address,
            status=customer.status,
            settings=customer.settings,
            created_at=customer.created_at,
            updated_at=customer.updated_at,
        )


class CreateCustomerResponse(CustomerOut):
    account: AccountOut | None = None


class CustomerPage(ResponseModel):
    data: list[CustomerOut]
    next_token: str | None = None
    context: PaginationOptions | None = None
