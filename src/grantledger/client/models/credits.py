"""Monetary credits: grants, their transactions, balances."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import Field

from grantledger.client.models._base import ApiModel, RequestBody

__all__ = [
    "CreateCreditRequest",
    "CreateCreditResponse",
    "Credit",
    "CreditBalanceResponse",
    "CreditDetailsResponse",
    "CreditRequest",
    "CreditTransaction",
    "ListCreditsResponse",
]


class CreditRequest(RequestBody):
    """One grant. `idempotency_key` makes a repeat return the first credit (and retry-safe)."""

    account_id: str
    purpose: str
    effective_from: date
    priority: int
    credit_amount: Decimal
    effective_until: date | None = None
    applicable_entity_ids: list[str] | None = None
    grantor_id: str | None = None
    idempotency_key: str | None = None


class CreateCreditRequest(RequestBody):
    """`POST /credits`: all the grants succeed or none does."""

    credit_requests: list[CreditRequest] = Field(default_factory=list)


class Credit(ApiModel):
    id: str
    customer_id: str
    account_id: str
    purpose: str
    effective_from: date
    priority: int
    status: str  # ACTIVE | CONSUMED | EXPIRED | VOIDED
    created_at: datetime
    credit_amount: Decimal | None = None
    effective_until: date | None = None
    applicable_entity_ids: list[str] | None = None
    grantor_id: str | None = None
    idempotency_key: str | None = None
    credit_unit: str | None = None
    hold_amount: Decimal | None = None
    consumed_amount: Decimal | None = None
    updated_at: datetime | None = None


class CreateCreditResponse(ApiModel):
    credits: list[Credit]


class CreditTransaction(ApiModel):
    id: str
    credit_id: str
    transaction_type: str  # CREDITED | DEBITED | EXPIRED | VOIDED
    amount: Decimal
    created_at: datetime
    invoice_id: str | None = None
    entity_id: str | None = None


class CreditDetailsResponse(Credit):
    transactions: list[CreditTransaction]


class ListCreditsResponse(ApiModel):
    data: list[Credit] = Field(default_factory=list)
    next_token: str | None = None


class CreditBalanceResponse(ApiModel):
    active_credits: Decimal
    available_balance: Decimal
    running_balance: Decimal
    inapplicable_credits: Decimal
    unit: str
    last_updated_at: datetime
