"""The month close's identities hold exactly, whatever the journal (issue 22)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grantledger.domain.errors import InvalidInput
from grantledger.domain.journal import JournalKind
from grantledger.domain.month_close import Booked, close_month, parse_month

NOVEMBER = parse_month("2026-11")
MOVING = [k for k in JournalKind if k not in (JournalKind.HOLD, JournalKind.RELEASE)]
amounts = st.decimals(
    min_value=Decimal("-1000000"), max_value=Decimal("1000000"), places=10, allow_nan=False
)
bases = st.none() | st.decimals(min_value=0, max_value=Decimal("1000"), places=10)
rows = st.builds(
    Booked,
    occurred_at=st.integers(0, 120 * 24).map(
        lambda h: datetime(2026, 9, 15, tzinfo=UTC) + timedelta(hours=h)
    ),
    kind=st.sampled_from(MOVING),
    unit=st.sampled_from(["USD", "EUR", "tokens"]),
    money=st.booleans(),
    amount=amounts,
    cost_basis=bases,
)


@given(st.lists(rows, max_size=60))
def test_opening_plus_movements_is_closing_exactly(journal: list[Booked]) -> None:
    for u in close_month(journal, NOVEMBER):
        moved = u.granted + u.adjusted - u.consumed - u.expired - u.voided
        assert u.opening + moved == u.closing
        valued = u.sold + u.adjusted_value - u.revenue - u.breakage - u.voided_value
        assert u.opening_deferred + valued == u.closing_deferred
        mine = [r for r in journal if (r.money, r.unit) == (u.money, u.unit)]
        assert u.closing == sum(
            (r.amount for r in mine if r.occurred_at < NOVEMBER.end), Decimal(0)
        )


@given(st.lists(rows, max_size=60))
def test_a_months_closing_is_the_next_months_opening(journal: list[Booked]) -> None:
    october = {(u.money, u.unit): u for u in close_month(journal, parse_month("2026-10"))}
    for u in close_month(journal, NOVEMBER):
        before = october.get((u.money, u.unit))
        assert u.opening == (before.closing if before else 0)
        assert u.opening_deferred == (before.closing_deferred if before else 0)


def test_granted_is_split_by_what_was_paid() -> None:
    at = datetime(2026, 11, 2, tzinfo=UTC)
    grant = JournalKind.GRANT
    [usd] = close_month(
        [
            Booked(at, grant, "USD", True, Decimal("10"), Decimal("0.5")),
            Booked(at, grant, "USD", True, Decimal("3"), Decimal("0")),
            Booked(at, grant, "USD", True, Decimal("2"), None),
            Booked(at, JournalKind.DEBIT, "USD", True, Decimal("-4"), Decimal("0.5")),
            Booked(at, JournalKind.EXPIRY, "USD", True, Decimal("-6"), Decimal("0.5")),
        ],
        NOVEMBER,
    )
    assert (usd.granted_paid, usd.granted_free, usd.granted_unknown) == (10, 3, 2)
    assert (usd.sold, usd.revenue, usd.breakage, usd.closing_deferred) == (5, 2, 3, 0)


@pytest.mark.parametrize("text", ["2026-13", "2026-1", "26-11", "1969-12", "9999-12", "2026-11x"])
def test_a_bad_month_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="month"):
        parse_month(text)
