"""Wire shapes of the books: the journal's rows (`GET /ledger/entries`)."""

from __future__ import annotations

from datetime import datetime

from grantledger.api.wire import Amount, ResponseModel
from grantledger.domain.journal import MONEY_KINDS, JournalKind
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

    @classmethod
    def of(cls, row: JournalRow) -> JournalEntryOut:
        money = JournalKind(row.kind) in MONEY_KINDS and row.feature_id is None
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
        )


class JournalPageOut(ResponseModel):
    data: list[JournalEntryOut]
    # Ask `after` this next: the last row's cursor, or the one given when the page is empty.
    cursor: str
    more: bool
