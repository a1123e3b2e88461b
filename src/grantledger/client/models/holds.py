"""Two-phase consumption of credits, keyed by invoice (grantledger extension)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import Field

from grantledger.client.models._base import ApiModel, RequestBody

__all__ = [
    "CreateCreditHoldRequest",
    "CreditHold",
    "CreditHoldAllocation",
    "CreditHoldLine",
    "CreditHoldLineRequest",
    "CreditHoldPaginatedResponse",
]


class CreditHoldLineRequest(RequestBody):
    entity_id: str
    amount: Decimal
    entity_type: str | None = None


class CreateCreditHoldRequest(RequestBody):
    """Body of holds and debits. The invoice id keys it: a repeat returns the first answer."""

    invoice_id: str
    lines: list[CreditHoldLineRequest] = Field(default_factory=list)
    allow_partial: bool | None = None
    expires_in: str | None = None  # ISO-8601 duration, at most PT24H (holds only)


class CreditHoldAllocation(ApiModel):
    credit_id: str
    amount: Decimal


class CreditHoldLine(ApiModel):
    entity_id: str
    amount: Decimal
    covered_amount: Decimal
    credits: list[CreditHoldAllocation] = Field(default_factory=list)
    entity_type: str | None = None


class CreditHold(ApiModel):
    id: str
    account_id: str
    invoice_id: str
    type: str  # HOLD | DEBIT
    status: str  # HELD | CAPTURED | RELEASED | EXPIRED
    unit: str
    requested_amount: Decimal
    covered_amount: Decimal
    uncovered_amount: Decimal
    lines: list[CreditHoldLine]
    created_at: datetime
    settled_at: datetime | None = None
    expires_at: datetime | None = None


class CreditHoldPaginatedResponse(ApiModel):
    data: list[CreditHold] = Field(default_factory=list)
    next_token: str | None = None
