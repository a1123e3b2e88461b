"""The balance chart: an account's balance at chosen instants, folded from its ledger in one pass.

`grantledger.domain.credits.replay` rebuilds one credit at one instant from the start of its
ledger; calling it for every point of a chart would read an account's whole ledger once per
point. This module walks each credit's events once, in the same order and with the same rules
as `replay`, and samples `balance` wherever a point is asked for, so each point is the figure
`GET /accounts/{id}/credit_balance?asOf=` answers for that instant (tests hold it to that).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from grantledger.domain import credits as rules
from grantledger.domain.credits import Credit, CreditStatus, LedgerEvent, TransactionType
from grantledger.domain.money import ZERO


class _Running:
    """One credit part-way through `replay`'s loop, kept in plain fields (a dataclass `replace`
    per ledger event was most of a 10,000-row chart's time)."""

    def __init__(self, terms: Credit) -> None:
        self.terms = terms
        self.status = CreditStatus.ACTIVE
        self.consumed = self.held = self.expired = self.voided = ZERO

    def step(self, event: LedgerEvent) -> None:
        """One event of `replay`'s loop."""
        until = self.terms.effective_until
        if self.status is CreditStatus.ACTIVE and until is not None and event.at.date() > until:
            self.status = CreditStatus.EXPIRED
        if event.kind == TransactionType.DEBITED:
            self.consumed += event.amount
        elif event.kind == TransactionType.EXPIRED:
            self.status = CreditStatus.EXPIRED
            self.expired += event.amount
        elif event.kind == TransactionType.VOIDED:
            self.status = CreditStatus.VOIDED
            self.voided += event.amount
        elif event.kind == rules.HOLD:
            self.held += event.amount
        elif event.kind == rules.UNHOLD:
            self.held -= event.amount

    def state(self) -> Credit:
        """The credit as `replay` returns it (a spent ACTIVE credit settles as CONSUMED)."""
        state = replace(
            self.terms,
            status=self.status,
            consumed=self.consumed,
            held=self.held,
            expired=self.expired,
            voided=self.voided,
        )
        if state.status is CreditStatus.ACTIVE and state.remaining == 0 and state.held == 0:
            return replace(state, status=CreditStatus.CONSUMED)
        return state


def balances_at(
    terms: Sequence[Credit],
    events: Mapping[str, Sequence[LedgerEvent]],
    instants: Sequence[datetime],
) -> list[rules.Balance]:
    """`rules.balance` of every credit replayed to each instant (`instants` ascending)."""
    ordered = {c.id: sorted(events.get(c.id, ()), key=lambda e: e.at) for c in terms}
    running = {c.id: _Running(c) for c in terms}
    done = dict.fromkeys(ordered, 0)
    states: dict[str, Credit] = {}
    out: list[rules.Balance] = []
    for at in instants:
        live: list[Credit] = []
        for credit in terms:
            if credit.created_at > at:
                continue
            todo = ordered[credit.id]
            i = done[credit.id]
            if (i < len(todo) and todo[i].at <= at) or credit.id not in states:
                while i < len(todo) and todo[i].at <= at:
                    running[credit.id].step(todo[i])
                    i += 1
                done[credit.id] = i
                states[credit.id] = running[credit.id].state()
            live.append(states[credit.id])
        out.append(rules.balance(live, at.date()))
    return out


# --- what the chart shows --------------------------------------------------------------------


@dataclass(frozen=True)
class Mark:
    """A ledger fact worth pointing at: a grant, an expiry, a void, or a big debit."""

    at: datetime
    kind: str  # grant | expiry | void | debit
    amount: Decimal
    credit_id: str


@dataclass(frozen=True)
class Point:
    at: datetime
    figures: rules.Balance
    mark: Mark | None = None


GRID_POINTS = 48
MAX_MARKS = 60
BIG_DEBITS = 12


def marks_of(
    terms: Sequence[Credit], transactions: Sequence[tuple[str, str, Decimal, datetime]]
) -> list[Mark]:
    """Grants, expiries and voids (the latest MAX_MARKS), and the BIG_DEBITS largest debits.

    `transactions` are (credit id, type, amount, at).
    """
    marks = [Mark(c.created_at, "grant", c.credit_amount, c.id) for c in terms]
    debits: list[Mark] = []
    for credit_id, kind, amount, at in transactions:
        if kind == TransactionType.EXPIRED:
            marks.append(Mark(at, "expiry", amount, credit_id))
        elif kind == TransactionType.VOIDED:
            marks.append(Mark(at, "void", amount, credit_id))
        elif kind == TransactionType.DEBITED:
            debits.append(Mark(at, "debit", amount, credit_id))
    marks.sort(key=lambda m: m.at)
    marks = marks[-MAX_MARKS:]
    biggest = sorted(debits, key=lambda m: (m.amount, m.at), reverse=True)[:BIG_DEBITS]
    return sorted(marks + biggest, key=lambda m: m.at)


def series(
    terms: Sequence[Credit],
    events: Mapping[str, Sequence[LedgerEvent]],
    marks: Sequence[Mark],
    now: datetime,
) -> list[Point]:
    """Evenly spaced points from the first grant to `now`, plus one at each mark."""
    if not terms:
        return []
    start = min(c.created_at for c in terms)
    span = now - start
    grid = [start + span * i / (GRID_POINTS - 1) for i in range(GRID_POINTS)] if span else [now]
    wanted: list[tuple[datetime, Mark | None]] = [(at, None) for at in grid]
    wanted += [(m.at, m) for m in marks if m.at <= now]
    wanted.sort(key=lambda w: (w[0], w[1] is not None))
    figures = balances_at(terms, events, [at for at, _ in wanted])
    return [Point(at, f, mark) for (at, mark), f in zip(wanted, figures, strict=True)]
