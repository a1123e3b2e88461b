"""The console's one-pass balance chart gives, at every instant, what `replay` + `balance` give
(the figures of `GET …/credit_balance?asOf=`)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from grantledger.console.chart import balances_at, marks_of, series
from grantledger.domain import credits as rules
from grantledger.domain.credits import Credit, LedgerEvent

START = datetime(2026, 1, 1, tzinfo=UTC)


def _history(seed: int) -> tuple[list[Credit], dict[str, list[LedgerEvent]]]:
    rng = random.Random(seed)
    terms: list[Credit] = []
    events: dict[str, list[LedgerEvent]] = {}
    for n in range(rng.randint(1, 5)):
        created = START + timedelta(days=rng.randint(0, 60), seconds=rng.randint(0, 86399))
        until = created.date() + timedelta(days=rng.randint(0, 90)) if rng.random() < 0.7 else None
        amount = Decimal(rng.randint(1, 10_000)) / 100  # small: often spent to the last cent
        credit = Credit(f"c{n}", rng.randint(0, 2), created.date(), until, created, None, amount)
        terms.append(credit)
        left, held, at, log = amount, Decimal(0), created, []
        for _ in range(rng.randint(0, 12)):
            at += timedelta(hours=rng.randint(0, 200))  # same-instant events happen too
            kind = rng.choice(["DEBITED", "HOLD", "UNHOLD", "EXPIRED", "VOIDED"])
            if kind in ("DEBITED", "HOLD") and left > 0:
                take = min(left, Decimal(rng.randint(1, 5000)) / 100)
                left -= take
                held += take if kind == "HOLD" else 0
                log.append(LedgerEvent(at, kind, take))
            elif kind == "UNHOLD" and held > 0:
                log.append(LedgerEvent(at, kind, held))
                left, held = left + held, Decimal(0)
            elif kind in ("EXPIRED", "VOIDED") and left > 0 and held == 0:
                log.append(LedgerEvent(at, kind, left))
                left = Decimal(0)
                break
        events[credit.id] = log
    return terms, events


def _expected(terms: list[Credit], events: dict[str, list[LedgerEvent]], at: datetime) -> object:
    states = [rules.replay(c, events[c.id], at) for c in terms]
    return rules.balance([s for s in states if s is not None], at.date())


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10**9), st.lists(st.integers(0, 400 * 24), min_size=1, max_size=15))
def test_every_point_is_the_replayed_balance(seed: int, hours: list[int]) -> None:
    terms, events = _history(seed)
    instants = sorted(START + timedelta(hours=h) for h in hours)
    # The instants of the events themselves, where a step is taken or not.
    instants = sorted(instants + [e.at for log in events.values() for e in log])
    got = balances_at(terms, events, instants)
    assert got == [_expected(terms, events, at) for at in instants]


def test_series_marks_grants_expiries_and_the_biggest_debits() -> None:
    c1 = Credit("c1", 1, date(2026, 1, 1), date(2026, 1, 31), START, None, Decimal("100"))
    c2 = Credit("c2", 1, date(2026, 1, 5), None, START + timedelta(days=4), None, Decimal("50"))
    events = {
        "c1": [
            LedgerEvent(START + timedelta(days=2), "DEBITED", Decimal("30")),
            LedgerEvent(datetime(2026, 2, 1, tzinfo=UTC), "EXPIRED", Decimal("70")),
        ],
        "c2": [LedgerEvent(START + timedelta(days=6), "DEBITED", Decimal("0.5"))],
    }
    moves = [
        ("c1", "CREDITED", Decimal("100"), START),
        ("c1", "DEBITED", Decimal("30"), START + timedelta(days=2)),
        ("c1", "EXPIRED", Decimal("70"), datetime(2026, 2, 1, tzinfo=UTC)),
        ("c2", "DEBITED", Decimal("0.5"), START + timedelta(days=6)),
    ]
    marks = marks_of([c1, c2], moves)
    assert [(m.kind, m.credit_id) for m in marks] == [
        ("grant", "c1"),
        ("debit", "c1"),
        ("grant", "c2"),
        ("debit", "c2"),
        ("expiry", "c1"),
    ]
    now = datetime(2026, 3, 1, tzinfo=UTC)
    points = series([c1, c2], events, marks, now)
    marked = {p.mark.kind + p.mark.credit_id: p.figures for p in points if p.mark}
    assert marked["grantc1"].available_balance == Decimal("100")
    assert marked["debitc1"].available_balance == Decimal("70")
    assert marked["grantc2"].available_balance == Decimal("120")
    assert marked["expiryc1"].available_balance == Decimal("49.5")
    assert points[-1].at == now and points[-1].figures.available_balance == Decimal("49.5")
