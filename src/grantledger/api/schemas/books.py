"""Wire shapes of the books: the journal's rows (`GET /ledger/entries`)."""

from __future__ import annotations

from datetime import datetime

from grantledger.api.wire import Amount, ResponseModel
from grantledger.domain.month_close import UnitClose
from grantledger.service.books.reports import MonthClose
from grantledger.store.books.audit import AuditRow
from grantledger.store.books.journal import JournalRow


class JournalEntryOut(ResponseModel):
    cursor: str
    occurred_at: datetime
    recorded_at: datetime
    customer_id: str | None = None
    account_id: str
    kind: str
    credit_id: str | None = None
    entry_id: str | None = None
    feature_id: str | None = None
    unit: str
    amount: Amount
    held: Amount
    balance_after: Amount
    held_after: Amount
    event_id: str | None = None
    invoice_id: str | None = None
    idempotency_key: str | None = None
    request_id: str | None = None
    actor: str | None = None
    cost_basis: Amount | None = None

    @classmethod
    def of(cls, row: JournalRow) -> JournalEntryOut:
        money = row.feature_id is None  # a credit's row; an entry's names its feature
        return cls(
            cursor=row.cursor.text(),
            occurred_at=row.occurred_at,
            recorded_at=row.recorded_at,
            customer_id=row.customer_id,
            account_id=row.account_id,
            kind=row.kind,
            credit_id=row.subject if money else None,
            entry_id=None if money else row.subject,
            feature_id=row.feature_id,
            unit=row.unit,
            amount=row.amount,
            held=row.held,
            balance_after=row.balance_after,
            held_after=row.held_after,
            event_id=row.event_id,
            invoice_id=row.invoice_id,
            idempotency_key=row.idempotency_key,
            request_id=row.request_id,
            actor=row.actor,
            cost_basis=row.cost_basis,
        )


class JournalPageOut(ResponseModel):
    data: list[JournalEntryOut]
    # Ask `after` this next: the last row's cursor, or the one given when the page is empty.
    cursor: str
    more: bool


class UnitCloseOut(ResponseModel):
    unit: str
    type: str  # MONEY (a currency's credits) or UNITS (a feature's entries)
    opening: Amount
    granted: Amount
    granted_paid: Amount
    granted_free: Amount
    granted_unknown_basis: Amount
    adjusted: Amount
    consumed: Amount
    expired: Amount
    voided: Amount
    closing: Amount
    opening_deferred_revenue: Amount
    sold: Amount
    adjusted_value: Amount
    recognised_revenue: Amount
    breakage: Amount
    voided_value: Amount
    closing_deferred_revenue: Amount
    rows: int

    @classmethod
    def of(cls, u: UnitClose) -> UnitCloseOut:
        return cls(
            unit=u.unit,
            type="MONEY" if u.money else "UNITS",
            opening=u.opening,
            granted=u.granted,
            granted_paid=u.granted_paid,
            granted_free=u.granted_free,
            granted_unknown_basis=u.granted_unknown,
            adjusted=u.adjusted,
            consumed=u.consumed,
            expired=u.expired,
            voided=u.voided,
            closing=u.closing,
            opening_deferred_revenue=u.opening_deferred,
            sold=u.sold,
            adjusted_value=u.adjusted_value,
            recognised_revenue=u.revenue,
            breakage=u.breakage,
            voided_value=u.voided_value,
            closing_deferred_revenue=u.closing_deferred,
            rows=u.rows,
        )


class MonthCloseOut(ResponseModel):
    month: str
    start: datetime
    end: datetime
    account_id: str | None = None
    data: list[UnitCloseOut]

    @classmethod
    def of(cls, close: MonthClose) -> MonthCloseOut:
        return cls(
            month=close.month.label,
            start=close.month.start,
            end=close.month.end,
            account_id=close.account_id,
            data=[UnitCloseOut.of(u) for u in close.units],
        )


class AuditEntryOut(ResponseModel):
    cursor: str
    at: datetime
    actor: str
    method: str
    route: str
    path: str
    outcome: str
    status: int | None = None
    request_id: str | None = None
    address: str | None = None

    @classmethod
    def of(cls, row: AuditRow) -> AuditEntryOut:
        return cls(
            cursor=row.cursor.text(),
            at=row.at,
            actor=row.actor,
            method=row.method,
            route=row.route,
            path=row.path,
            outcome=row.outcome,
            status=row.status,
            request_id=row.request_id,
            address=row.address,
        )


class AuditPageOut(ResponseModel):
    data: list[AuditEntryOut]
    cursor: str
    more: bool
