"""Feature credits: entries, their draw-down order, cycles of plans, and entitlement values.

An entry grants `granted` units of a feature to an account for `[effective_from,
effective_until)`. Usage draws from entries; `0 <= used <= granted` always holds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from grantledger.domain.days import add_months
from grantledger.domain.errors import InvalidInput, LedgerInvariantBroken, NotEntitled
from grantledger.domain.money import ZERO, parse_quantity

# The wire requires an end; an entry without one is shown as ending here.
FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)


class EntrySource(StrEnum):
    ENTITLEMENT = "ENTITLEMENT"
    PRICE_PLAN = "PRICE_PLAN"
    OVERAGE = "OVERAGE"
    REFUND = "REFUND"
    # What a cycle's unused allowance rolled into (extension): shown as PRICE_PLAN on the wire.
    ROLLOVER = "ROLLOVER"


class EntryStatus(StrEnum):
    ACTIVE = "ACTIVE"
    EXPIRED = "EXPIRED"
    VOIDED = "VOIDED"


class ValueType(StrEnum):
    BOOLEAN = "BOOLEAN"
    NUMERIC = "NUMERIC"
    ENUM = "ENUM"
    STRING = "STRING"


class PlanType(StrEnum):
    BILLING = "BILLING"
    PURCHASE = "PURCHASE"


@dataclass(frozen=True)
class Entry:
    id: str
    source: EntrySource
    effective_from: datetime
    effective_until: datetime | None
    granted: Decimal
    used: Decimal = ZERO
    voided: bool = False
    # Usage a plan change carried in from the cycle it cut short: part of `used`, with no draw.
    carried: Decimal = ZERO

    def checked(self) -> Entry:
        """This entry, if `0 <= carried <= used <= granted` (the module's rule) holds: every
        rule that makes or moves an entry returns through here, so breaking it is a bug caught
        where it happened. (Rows read back are not checked: `verify` reports them.)"""
        if not (ZERO <= self.carried <= self.used <= self.granted):
            raise LedgerInvariantBroken(
                f"entry {self.id}: 0 <= carried {self.carried} <= used {self.used} <= "
                f"granted {self.granted} must hold"
            )
        if self.effective_until is not None and self.effective_until < self.effective_from:
            raise LedgerInvariantBroken(f"entry {self.id}: effective until before from")
        return self

    @property
    def balance(self) -> Decimal:
        return self.granted - self.used

    @property
    def is_overage(self) -> bool:
        return self.source is EntrySource.OVERAGE

    def status_at(self, at: datetime) -> EntryStatus:
        if self.voided:
            return EntryStatus.VOIDED
        if self.effective_until is not None and at >= self.effective_until:
            return EntryStatus.EXPIRED
        return EntryStatus.ACTIVE

    def is_effective_at(self, at: datetime) -> bool:
        return self.status_at(at) is EntryStatus.ACTIVE and self.effective_from <= at


def drawable(entry: Entry, at: datetime) -> Decimal:
    """What can still be drawn from `entry` at `at` or later: its balance, or nothing once it
    is voided (the remainder is gone) or has ended. An entry not yet begun keeps its balance."""
    return entry.balance if entry.status_at(at) is EntryStatus.ACTIVE else ZERO


def draw_key(entry: Entry) -> tuple[bool, bool, datetime, datetime, str]:
    """Published draw order: included entries before overage, rolled-over units first among
    them (the oldest allowance), soonest end, oldest start, id."""
    return (
        entry.is_overage,
        entry.source is not EntrySource.ROLLOVER,
        entry.effective_until or FAR_FUTURE,
        entry.effective_from,
        entry.id,
    )


@dataclass(frozen=True)
class Draw:
    entry_id: str
    amount: Decimal


def available(entries: Iterable[Entry], at: datetime) -> Decimal:
    return sum((e.balance for e in entries if e.is_effective_at(at)), ZERO)


def draw(entries: Sequence[Entry], quantity: Decimal, at: datetime, feature_id: str) -> list[Draw]:
    """Take `quantity` from entries effective at `at`, or refuse the whole quantity."""
    usable = sorted((e for e in entries if e.is_effective_at(at) and e.balance > 0), key=draw_key)
    have = sum((e.balance for e in usable), ZERO)
    if have < quantity:
        raise NotEntitled(
            f"feature {feature_id} is not covered: needed {quantity}, available {have}"
        )
    draws: list[Draw] = []
    need = quantity
    for entry in usable:
        if need <= 0:
            break
        take = min(need, entry.balance)
        draws.append(Draw(entry.id, take))
        need -= take
    return draws


def apply_draw(entry: Entry, amount: Decimal) -> Entry:
    if amount <= 0 or amount > entry.balance:
        raise ValueError(f"entry {entry.id} cannot give {amount}")
    return replace(entry, used=entry.used + amount).checked()


@dataclass(frozen=True)
class FeatureCredits:
    granted: Decimal
    balance: Decimal
    overage_limit: Decimal | None
    used_overage: Decimal
    # Of what is used, the units feature holds reserve at the instant (counted as used: they
    # are drawn when held, given back when released or expired).
    held: Decimal = ZERO


def feature_credits(entries: Iterable[Entry], at: datetime) -> FeatureCredits:
    granted = balance = limit = used_overage = ZERO
    has_overage = False
    for entry in entries:
        if not entry.is_effective_at(at):
            continue
        if entry.is_overage:
            has_overage = True
            limit += entry.granted
            used_overage += entry.used
        else:
            granted += entry.granted
            balance += entry.balance
    return FeatureCredits(granted, balance, limit if has_overage else None, used_overage)


def remaining_allowance(entries: Iterable[Entry], at: datetime) -> Decimal:
    """Balance plus remaining overage: what usage at `at` could still draw."""
    return available(entries, at)


def patch(
    entry: Entry,
    now: datetime,
    *,
    effective_until: datetime | None = None,
    granted: Decimal | None = None,
) -> Entry:
    status = entry.status_at(now)
    if status is not EntryStatus.ACTIVE:
        raise InvalidInput(f"entry {entry.id} is {status.value} and can no longer be changed")
    if effective_until is not None:
        if effective_until <= now:
            raise InvalidInput("effectiveUntil must be in the future")
        if effective_until <= entry.effective_from:
            raise InvalidInput("effectiveUntil must be after the entry's effectiveFrom")
        entry = replace(entry, effective_until=effective_until).checked()
    if granted is not None:
        if granted < entry.used:
            raise InvalidInput(
                f"granted must be at least the {entry.used} already used from this entry"
            )
        entry = replace(entry, granted=granted).checked()
    return entry


def void(entry: Entry, now: datetime) -> Entry:
    status = entry.status_at(now)
    if status is EntryStatus.VOIDED:
        return entry
    if status is EntryStatus.EXPIRED:
        raise InvalidInput(f"entry {entry.id} is EXPIRED and cannot be voided")
    return replace(entry, voided=True).checked()


def purchase_entry_id(purchase_id: str, index: int) -> str:
    return f"{purchase_id}#{index}$PURCHASE"


_DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?$")


def parse_validity(text: str) -> tuple[int, int, int]:
    """An ISO-8601 date duration (`P30D`, `P1M`, `P1Y2M`, `P2W`) as (years, months, days)."""
    match = _DURATION.match(text)
    if not match or text == "P":
        raise InvalidInput(f"validity {text!r} must be an ISO-8601 duration such as P30D or P1M")
    years, months, weeks, days = (int(g) if g else 0 for g in match.groups())
    return years, months, weeks * 7 + days


def add_validity(start: datetime, validity: str) -> datetime:
    years, months, days = parse_validity(validity)
    try:
        moved = add_months(start.date(), years * 12 + months, start.day)
        return datetime.combine(moved, start.timetz()) + timedelta(days=days)
    except (OverflowError, ValueError) as exc:
        raise InvalidInput(f"validity {validity} runs past 9999-12-31") from exc


# --- values ------------------------------------------------------------------------------

_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def check_value(value_type: ValueType, allowed: Sequence[str] | None, value: str) -> str:
    """A value a plan or an account may hold for a feature of this type."""
    if value_type is ValueType.BOOLEAN and value not in ("true", "false"):
        raise InvalidInput("a BOOLEAN feature's value must be 'true' or 'false'")
    if value_type is ValueType.NUMERIC and not _NUMBER.match(value):
        raise InvalidInput("a NUMERIC feature's value must be a number written as a string")
    if value_type is ValueType.ENUM and (not allowed or value not in allowed):
        raise InvalidInput(f"value must be one of {', '.join(allowed or [])}")
    return value


def metered_value(remaining: Decimal) -> str:
    return "true" if remaining > 0 else "false"


def is_satisfied(
    value_type: ValueType, held: str | None, asked: str, remaining: Decimal | None
) -> bool:
    """Whether an account's entitlement covers `asked` (docs/api.md §6, validating a value).

    `held` is the set or plan value; `remaining` is balance + remaining overage for a metered
    feature (None when not metered).
    """
    if held is None:
        if remaining is None:
            return False
        if not _NUMBER.match(asked):
            return asked == "true" and remaining > 0
        # Rounded as the gate rounds an event's quantity: the same answer as the gate's.
        return parse_quantity(asked) <= remaining
    if value_type is ValueType.BOOLEAN:
        return held == "true" or held == asked
    if value_type is ValueType.NUMERIC:
        if not _NUMBER.match(asked) or not _NUMBER.match(held):
            return False
        return Decimal(asked) <= Decimal(held)
    return held == asked
