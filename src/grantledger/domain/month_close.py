"""The month close: every figure a sum of journal rows (docs/api.md, "The month close").

Per unit (a currency for money, a feature for units) and over the rows that occurred before
the month's end: the balance at the month's start (opening) and end (closing), and what moved
it inside the month, so that

    opening + granted + adjusted - consumed - expired - voided = closing

holds exactly (Decimal arithmetic, nothing rounded). From the cost basis each row carries (what
its customer paid per unit; unknown rows are left out of the values), the same identity in
money: deferred revenue at the start, plus what was sold, less the revenue recognised on
consumption, the breakage recognised on expiry and the value voided, is deferred revenue at the
end.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from grantledger.domain.errors import InvalidInput
from grantledger.domain.journal import JournalKind

ZERO = Decimal(0)
GRANTS = frozenset(
    {
        JournalKind.GRANT,
        JournalKind.AUTO_TOP_UP,
        JournalKind.ENTRY_GRANT,
        JournalKind.PURCHASE,
        JournalKind.PLAN_GRANT,
    }
)
# A reversal gives consumed units back: it counts as negative consumption.
# Units a feature hold reserves count as consumed while it holds them, given back when it ends.
CONSUMPTION = frozenset(
    {
        JournalKind.CAPTURE,
        JournalKind.DEBIT,
        JournalKind.DRAW,
        JournalKind.REVERSAL,
        JournalKind.FEATURE_HOLD,
        JournalKind.FEATURE_HOLD_RELEASE,
        JournalKind.FEATURE_HOLD_SETTLE,
    }
)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True)
class Month:
    start: datetime
    end: datetime  # exclusive: the next month's start

    @property
    def label(self) -> str:
        return self.start.strftime("%Y-%m")


def parse_month(text: str) -> Month:
    match = _MONTH.match(text)
    if match is None or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1970:
        raise InvalidInput(
            f"month must be a month written YYYY-MM such as 2026-11, not {text!r:.40}"
        )
    year, month = int(match.group(1)), int(match.group(2))
    if (year, month) == (9999, 12):
        raise InvalidInput("month must be before 9999-12")
    start = datetime(year, month, 1, tzinfo=UTC)
    return Month(start, datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC))


@dataclass(frozen=True)
class Booked:
    """What the close needs of one journal row."""

    occurred_at: datetime
    kind: JournalKind
    unit: str
    money: bool  # a credit's row (the unit is a currency) or an entry's (a feature)
    amount: Decimal
    cost_basis: Decimal | None


@dataclass
class UnitClose:
    unit: str
    money: bool
    opening: Decimal = ZERO
    granted_paid: Decimal = ZERO  # granted with a cost basis above 0
    granted_free: Decimal = ZERO  # granted with a cost basis of 0
    granted_unknown: Decimal = ZERO  # granted without a cost basis
    adjusted: Decimal = ZERO  # entries' PATCHed `granted` (±)
    consumed: Decimal = ZERO
    expired: Decimal = ZERO
    voided: Decimal = ZERO
    closing: Decimal = ZERO
    opening_deferred: Decimal = ZERO
    sold: Decimal = ZERO  # the value granted in the month (at cost basis)
    adjusted_value: Decimal = ZERO
    revenue: Decimal = ZERO  # recognised on consumption
    breakage: Decimal = ZERO  # recognised on expiry
    voided_value: Decimal = ZERO
    closing_deferred: Decimal = ZERO
    rows: int = field(default=0)

    @property
    def granted(self) -> Decimal:
        return self.granted_paid + self.granted_free + self.granted_unknown

    def _in_month(self, row: Booked) -> None:
        value = row.amount * row.cost_basis if row.cost_basis is not None else ZERO
        if row.kind in GRANTS:
            if row.cost_basis is None:
                self.granted_unknown += row.amount
            elif row.cost_basis > 0:
                self.granted_paid += row.amount
            else:
                self.granted_free += row.amount
            self.sold += value
        elif row.kind in (JournalKind.ADJUSTMENT, JournalKind.OPENING):
            self.adjusted += row.amount
            self.adjusted_value += value
        elif row.kind in CONSUMPTION:
            self.consumed -= row.amount
            self.revenue -= value
        elif row.kind is JournalKind.EXPIRY:
            self.expired -= row.amount
            self.breakage -= value
        elif row.kind is JournalKind.VOID:
            self.voided -= row.amount
            self.voided_value -= value
        # HOLD and RELEASE move what is held, never the balance (their amount is 0).

    def add(self, row: Booked, month: Month) -> None:
        value = row.amount * row.cost_basis if row.cost_basis is not None else ZERO
        self.rows += 1
        if row.occurred_at < month.start:
            self.opening += row.amount
            self.opening_deferred += value
        else:
            self._in_month(row)
        self.closing += row.amount
        self.closing_deferred += value


class MonthCloser:
    """Sums rows one at a time (an export-sized journal never needs to be in memory)."""

    def __init__(self, month: Month) -> None:
        self.month = month
        self._units: dict[tuple[bool, str], UnitClose] = {}

    def add(self, row: Booked) -> None:
        if row.occurred_at >= self.month.end:
            return
        key = (row.money, row.unit)
        if key not in self._units:
            self._units[key] = UnitClose(row.unit, row.money)
        self._units[key].add(row, self.month)

    def result(self) -> list[UnitClose]:
        """Money first, then units, each by name."""
        return [self._units[k] for k in sorted(self._units, key=lambda k: (not k[0], k[1]))]


def close_month(rows: Iterable[Booked], month: Month) -> list[UnitClose]:
    """The close of every unit the rows touch (rows after the month are left out)."""
    closer = MonthCloser(month)
    for row in rows:
        closer.add(row)
    return closer.result()
