"""The journal's rules: its kinds of movement, each subject's running balance, its cursor.

The journal (docs/api.md, "The journal") is one appended row per movement of money or units.
Each row moves two figures of one *subject* (a credit or a feature entry): its balance (what it
still holds: granted minus consumed, expired and voided; held money included) and its held
amount. Σ of a subject's `amount` is its balance, Σ of its `held` what is reserved on it.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar

from grantledger.domain.errors import InvalidInput

K = TypeVar("K", bound=Hashable)


class JournalKind(StrEnum):
    # money: the life of a credit
    GRANT = "GRANT"  # a credit granted through the API (or the console)
    AUTO_TOP_UP = "AUTO_TOP_UP"  # a credit an auto top-up granted
    HOLD = "HOLD"  # money reserved for an invoice (held up, balance unchanged)
    CAPTURE = "CAPTURE"  # a hold turned into consumption (held down, balance down)
    RELEASE = "RELEASE"  # a hold given back (held down)
    DEBIT = "DEBIT"  # consumption in one step (credit_debits)
    EXPIRY = "EXPIRY"  # what was left of a credit when it expired
    VOID = "VOID"  # what was left of a credit (or an entry) when it was voided
    # units: the life of a feature entry
    ENTRY_GRANT = "ENTRY_GRANT"  # a direct grant of units
    PURCHASE = "PURCHASE"  # the entries of a purchase
    PLAN_GRANT = "PLAN_GRANT"  # a plan cycle's entry, when it is first stored
    ADJUSTMENT = "ADJUSTMENT"  # a PATCH of an entry's `granted`
    DRAW = "DRAW"  # units an event drew (/entitled, /ingest)
    REVERSAL = "REVERSAL"  # a draw taken back by a correction
    FEATURE_HOLD = "FEATURE_HOLD"  # units a feature hold reserved (drawn at once)
    # what a feature hold reserved, given back when it is settled, released or expires
    FEATURE_HOLD_RELEASE = "FEATURE_HOLD_RELEASE"
    FEATURE_HOLD_SETTLE = "FEATURE_HOLD_SETTLE"  # units a feature hold's settlement drew
    # both: what a credit or an entry held when the journal began (migration 0013)
    OPENING = "OPENING"


# The kind of an event's draws, and of their giving back, by the door that judged it (the
# event's `source`): a feature hold's own event reserves, a settlement's draws what was used.
_DRAWN_BY = {
    "FEATURE_HOLD": JournalKind.FEATURE_HOLD,
    "FEATURE_HOLD_SETTLE": JournalKind.FEATURE_HOLD_SETTLE,
}


def draw_kind(source: str) -> JournalKind:
    return _DRAWN_BY.get(source, JournalKind.DRAW)


def reversal_kind(source: str) -> JournalKind:
    """A hold's reservation is given back by its settlement, release or expiry; any other
    event's draws by a correction."""
    return JournalKind.FEATURE_HOLD_RELEASE if source == "FEATURE_HOLD" else JournalKind.REVERSAL


MONEY_KINDS = frozenset(
    {
        JournalKind.GRANT,
        JournalKind.AUTO_TOP_UP,
        JournalKind.HOLD,
        JournalKind.CAPTURE,
        JournalKind.RELEASE,
        JournalKind.DEBIT,
        JournalKind.EXPIRY,
        JournalKind.VOID,
    }
)


@dataclass(frozen=True)
class Position:
    """A subject's two figures after a row: its balance and what is held on it."""

    balance: Decimal = Decimal(0)
    held: Decimal = Decimal(0)

    def moved(self, amount: Decimal, held: Decimal) -> Position:
        return Position(self.balance + amount, self.held + held)


def running_positions(
    last: Mapping[K, Position], moves: Iterable[tuple[K, Decimal, Decimal]]
) -> list[Position]:
    """Each move's subject position after it, in order, starting from `last` (the subject's
    latest journal row; a subject without one starts at zero). A subject is named by its key:
    a feature entry's id is unique only with its account and feature (one plan cycle's
    entries share their id across the plan's features)."""
    current = dict(last)
    after: list[Position] = []
    for subject, amount, held in moves:
        position = current.get(subject, Position()).moved(amount, held)
        current[subject] = position
        after.append(position)
    return after


# A cursor names a row's place in commit order: the writing transaction's number on
# PostgreSQL (0 on SQLite, whose one writer at a time commits in row order) and the row's
# sequence number. Fixed-width digits so cursors also sort as text.
_CURSOR = re.compile(r"^(\d{1,19})-(\d{1,19})$")
MAX_CURSOR_PART = 2**63 - 1


@dataclass(frozen=True, order=True)
class Cursor:
    tx: int
    seq: int

    def text(self) -> str:
        return f"{self.tx:019d}-{self.seq:019d}"


START = Cursor(0, 0)


def parse_cursor(text: str) -> Cursor:
    match = _CURSOR.match(text)
    if match is None:
        raise InvalidInput(
            "after must be a cursor of the journal as it returned it "
            f"(digits-digits), not {text!r:.60}"
        )
    tx, seq = int(match.group(1)), int(match.group(2))
    if tx > MAX_CURSOR_PART or seq > MAX_CURSOR_PART:
        raise InvalidInput("after is not a cursor of the journal: a part is out of range")
    return Cursor(tx, seq)
