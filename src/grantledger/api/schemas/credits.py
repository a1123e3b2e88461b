"""Credits, their transactions, balances and holds on the wire."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal, cast

from pydantic import Field, StrictBool, StrictInt, StrictStr

from grantledger.api.schemas.common import Id50, NewKey255
from grantledger.api.wire import (
    Amount,
    NonNegativeAmount,
    PositiveAmount,
    RequestModel,
    ResponseModel,
    WireDate,
)
from grantledger.domain.credits import Line
from grantledger.domain.errors import InvalidInput
from grantledger.domain.feature_holds import parse_expires_in
from grantledger.domain.holds import HoldKind, HoldStatus
from grantledger.service.credits.credits import AccountBalance, GrantRequest
from grantledger.service.credits.holds import HoldPlacement, HoldView
from grantledger.store.credits.credit_transactions import TransactionRecord
from grantledger.store.credits.credits import CreditRecord

Text255 = Annotated[StrictStr, Field(min_length=1, max_length=255)]


class CreditRequest(RequestModel):
    account_id: Id50
    purpose: Text255
    effective_from: WireDate
    priority: Annotated[StrictInt, Field(ge=0, le=2_147_483_647)]
    credit_amount: PositiveAmount
    effective_until: WireDate | None = None
    applicable_entity_ids: Annotated[list[Text255], Field(max_length=100)] | None = None
    grantor_id: Text255 | None = None
    idempotency_key: Text255 | None = None
    # Extension: what the customer paid per unit of the credit (0: free); absent: not known.
    cost_basis: NonNegativeAmount | None = None

    def to_grant(self) -> GrantRequest:
        return GrantRequest(
            account_id=self.account_id,
            purpose=self.purpose,
            effective_from=self.effective_from,
            effective_until=self.effective_until,
            credit_amount=self.credit_amount,
            priority=self.priority,
            applicable_entity_ids=tuple(dict.fromkeys(self.applicable_entity_ids))
            if self.applicable_entity_ids
            else None,
            grantor_id=self.grantor_id,
            idempotency_key=self.idempotency_key,
            cost_basis=self.cost_basis,
        )


class CreateCreditRequest(RequestModel):
    credit_requests: Annotated[list[CreditRequest], Field(min_length=1, max_length=100)]


class CreditOut(ResponseModel):
    id: str
    customer_id: str
    account_id: str
    purpose: str
    applicable_entity_ids: list[str] | None = None
    effective_from: date
    effective_until: date | None = None
    credit_amount: Amount
    priority: int
    grantor_id: str | None = None
    idempotency_key: str | None = None
    status: Literal["ACTIVE", "CONSUMED", "EXPIRED", "VOIDED"]
    credit_unit: str
    hold_amount: Amount
    consumed_amount: Amount
    created_at: datetime
    updated_at: datetime
    cost_basis: Amount | None = None  # extension: shown when the grant gave one

    @classmethod
    def of(cls, record: CreditRecord, today: date) -> CreditOut:
        c = record.ledger
        return cls(
            id=c.id,
            customer_id=record.customer_id,
            account_id=record.account_id,
            purpose=record.purpose,
            applicable_entity_ids=list(c.applicable_entity_ids)
            if c.applicable_entity_ids is not None
            else None,
            effective_from=c.effective_from,
            effective_until=c.effective_until,
            credit_amount=c.credit_amount,
            priority=c.priority,
            grantor_id=record.grantor_id,
            idempotency_key=record.idempotency_key,
            status=c.status_on(today).value,
            credit_unit=record.credit_unit,
            hold_amount=c.held,
            consumed_amount=c.consumed,
            created_at=c.created_at,
            updated_at=record.updated_at,
            cost_basis=record.cost_basis,
        )


class CreateCreditResponse(ResponseModel):
    credits: list[CreditOut]


TransactionType = Literal["CREDITED", "DEBITED", "EXPIRED", "VOIDED"]


class CreditTransactionOut(ResponseModel):
    id: str
    credit_id: str
    transaction_type: TransactionType
    invoice_id: str | None = None
    entity_id: str | None = None
    amount: Amount
    created_at: datetime

    @classmethod
    def of(cls, t: TransactionRecord) -> CreditTransactionOut:
        return cls(
            id=t.id,
            credit_id=t.credit_id,
            transaction_type=cast(TransactionType, t.transaction_type),
            invoice_id=t.invoice_id,
            entity_id=t.entity_id,
            amount=t.amount,
            created_at=t.created_at,
        )


class CreditDetailsResponse(CreditOut):
    transactions: list[CreditTransactionOut]


class ListCreditsResponse(ResponseModel):
    data: list[CreditOut]
    next_token: str | None = None


class CreditBalanceResponse(ResponseModel):
    active_credits: Amount
    available_balance: Amount
    running_balance: Amount
    inapplicable_credits: Amount
    unit: str
    last_updated_at: datetime

    @classmethod
    def of(cls, b: AccountBalance) -> CreditBalanceResponse:
        return cls(
            active_credits=b.figures.active_credits,
            available_balance=b.figures.available_balance,
            running_balance=b.figures.running_balance,
            inapplicable_credits=b.figures.inapplicable_credits,
            unit=b.unit,
            last_updated_at=b.last_updated_at,
        )


# --- holds (grantledger extension) ---------------------------------------------------------


class HoldLineRequest(RequestModel):
    entity_id: Text255
    entity_type: Text255 | None = None
    amount: PositiveAmount


class HoldRequest(RequestModel):
    invoice_id: NewKey255
    lines: Annotated[list[HoldLineRequest], Field(min_length=1, max_length=100)]
    allow_partial: StrictBool = True
    # A time limit (ISO-8601 duration, at most PT24H): past it the money goes back by itself.
    expires_in: Annotated[StrictStr, Field(max_length=40)] | None = None

    def to_placement(self, account_id: str, kind: HoldKind) -> HoldPlacement:
        if kind is HoldKind.DEBIT and self.expires_in is not None:
            raise InvalidInput("expiresIn applies to holds; a debit is captured at once")
        limit = parse_expires_in(self.expires_in) if self.expires_in is not None else None
        return HoldPlacement(
            account_id=account_id,
            invoice_id=self.invoice_id,
            lines=tuple(Line(x.entity_id, x.entity_type, x.amount) for x in self.lines),
            kind=kind,
            allow_partial=self.allow_partial,
            expires_in=limit,
        )


class HoldAllocationOut(ResponseModel):
    credit_id: str
    amount: Amount


class HoldLineOut(ResponseModel):
    entity_id: str
    entity_type: str | None = None
    amount: Amount
    covered_amount: Amount
    credits: list[HoldAllocationOut]


class HoldOut(ResponseModel):
    id: str
    account_id: str
    invoice_id: str
    type: Literal["HOLD", "DEBIT"]
    status: Literal["HELD", "CAPTURED", "RELEASED", "EXPIRED"]
    unit: str
    requested_amount: Amount
    covered_amount: Amount
    uncovered_amount: Amount
    lines: list[HoldLineOut]
    created_at: datetime
    settled_at: datetime | None = None
    expires_at: datetime | None = None

    @classmethod
    def of(cls, view: HoldView) -> HoldOut:
        hold = view.hold
        lines: list[HoldLineOut] = []
        for index, line in enumerate(hold.lines):
            allocs = [a for a in hold.allocations if a.line_index == index]
            lines.append(
                HoldLineOut(
                    entity_id=line.entity_id,
                    entity_type=line.entity_type,
                    amount=line.amount,
                    covered_amount=sum((a.amount for a in allocs), Decimal(0)),
                    credits=[
                        HoldAllocationOut(credit_id=a.credit_id, amount=a.amount) for a in allocs
                    ],
                )
            )
        requested = sum((line.amount for line in lines), Decimal(0))
        covered = sum((line.covered_amount for line in lines), Decimal(0))
        return cls(
            id=hold.id,
            account_id=hold.account_id,
            invoice_id=hold.invoice_id,
            type=hold.kind.value,
            status=view.status.value,
            unit=view.unit,
            requested_amount=requested,
            covered_amount=covered,
            uncovered_amount=requested - covered,
            lines=lines,
            created_at=hold.created_at,
            settled_at=hold.settled_at
            or (hold.expires_at if view.status is HoldStatus.EXPIRED else None),
            expires_at=hold.expires_at,
        )


class HoldPage(ResponseModel):
    data: list[HoldOut]
    next_token: str | None = None
