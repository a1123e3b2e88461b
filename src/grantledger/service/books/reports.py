"""The month close, summed from the journal (`domain/month_close.py` holds the rules)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from grantledger.domain.journal import JournalKind
from grantledger.domain.month_close import Booked, Month, MonthCloser, UnitClose, parse_month
from grantledger.service.books.journal import every_row
from grantledger.service.context import Tenant
from grantledger.store.books.journal import JournalFilter, JournalRow


@dataclass(frozen=True)
class MonthClose:
    month: Month
    account_id: str | None
    units: list[UnitClose]


def booked(row: JournalRow) -> Booked:
    return Booked(
        occurred_at=row.occurred_at,
        kind=JournalKind(row.kind),
        unit=row.unit,
        money=row.feature_id is None,  # a credit's row; an entry's names its feature
        amount=row.amount,
        cost_basis=row.cost_basis,
    )


async def month_close(tenant: Tenant, month: str, account_id: str | None) -> MonthClose:
    """The close of `month` (YYYY-MM, UTC) from every journal row that occurred before its
    end, read a chunk per transaction (memory holds one chunk and the sums)."""
    bounds = parse_month(month)
    closer = MonthCloser(bounds)
    where = JournalFilter(occurred_to=bounds.end, account_id=account_id)
    async for row in every_row(tenant, where, None):
        closer.add(booked(row))
    return MonthClose(bounds, account_id, closer.result())


def as_json(close: MonthClose) -> dict[str, Any]:
    """The close as the CLI prints it: amounts as exact decimal strings."""

    def text(value: Decimal) -> str:
        return format(value, "f")

    return {
        "month": close.month.label,
        "accountId": close.account_id,
        "data": [
            {
                "unit": u.unit,
                "type": "MONEY" if u.money else "UNITS",
                "opening": text(u.opening),
                "granted": text(u.granted),
                "grantedPaid": text(u.granted_paid),
                "grantedFree": text(u.granted_free),
                "grantedUnknownBasis": text(u.granted_unknown),
                "adjusted": text(u.adjusted),
                "consumed": text(u.consumed),
                "expired": text(u.expired),
                "voided": text(u.voided),
                "closing": text(u.closing),
                "openingDeferredRevenue": text(u.opening_deferred),
                "sold": text(u.sold),
                "adjustedValue": text(u.adjusted_value),
                "recognisedRevenue": text(u.revenue),
                "breakage": text(u.breakage),
                "voidedValue": text(u.voided_value),
                "closingDeferredRevenue": text(u.closing_deferred),
                "rows": u.rows,
            }
            for u in close.units
        ],
    }
