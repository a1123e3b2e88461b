"""Monetary credits: statuses, applicability, burn-down order, transitions and balances.

Every figure of a credit is derived from five amounts that only the ledger moves:
`credit_amount = consumed + held + remaining + expired + voided`, each part ≥ 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum

from grantledger.domain.errors import Conflict, InvalidInput, LedgerInvariantBroken
from grantledger.domain.money import ZERO

ALL_USAGE_METER_RATE_CARDS = "ALL_USAGE_METER_RATE_CARDS"
ALL_FIXED_FEE_RATE_CARDS = "ALL_FIXED_FEE_RATE_CARDS"
_WILDCARD_TYPES = {
    ALL_USAGE_METER_RATE_CARDS: "USAGE_METER_RATE_CARD",
    ALL_FIXED_FEE_RATE_CARDS: "FIXED_FEE_RATE_CARD",
}


# Idempotency keys of the credits auto top-up grants (`auto_topup:{account}:{n}`): a caller's
# key may not begin so, or a caller's credit could take the key a later top-up needs.
RESERVED_KEY_PREFIX = "auto_topup:"


def check_caller_key(key: str, field: str) -> None:
    """A caller's idempotency key must stay out of the namespace auto top-up draws from."""
    if key.startswith(RESERVED_KEY_PREFIX):
        raise InvalidInput(
            f"{field}: keys beginning {RESERVED_KEY_PREFIX} are reserved for the credits "
            "auto top-up grants"
        )


class CreditStatus(StrEnum):
    ACTIVE = "ACTIVE"
    CONSUMED = "CONSUMED"
    EXPIRED = "EXPIRED"
    VOIDED = "VOIDED"


class TransactionType(StrEnum):
    CREDITED = "CREDITED"
    DEBITED = "DEBITED"
    EXPIRED = "EXPIRED"
    VOIDED = "VOIDED"


@dataclass(frozen=True)
class Credit:
    """One credit's terms and its five-part split, as the ledger last left it."""

    id: str
    priority: int
    effective_from: date
    effective_until: date | None
    created_at: datetime
    applicable_entity_ids: tuple[str, ...] | None
    credit_amount: Decimal
    status: CreditStatus = CreditStatus.ACTIVE
    consumed: Decimal = ZERO
    held: Decimal = ZERO
    expired: Decimal = ZERO
    voided: Decimal = ZERO

    def checked(self) -> Credit:
        """This credit, if it keeps the invariant of the module docstring; every rule that
        makes or moves a credit returns through here, so a transition that broke it is a bug
        caught where it happened, never a state. (Rows read back are not checked here:
        `grantledger verify` reports a broken one instead of failing to read it.)"""
        parts = (self.consumed, self.held, self.expired, self.voided)
        if self.credit_amount <= 0 or any(p < 0 for p in parts) or self.remaining < 0:
            raise LedgerInvariantBroken(
                f"credit {self.id}: {self.credit_amount} = consumed {self.consumed} + held "
                f"{self.held} + expired {self.expired} + voided {self.voided} + remaining "
                f"{self.remaining} must hold with every part >= 0"
            )
        if self.effective_until is not None and self.effective_until < self.effective_from:
            raise LedgerInvariantBroken(f"credit {self.id}: effective until before from")
        return self

    @property
    def remaining(self) -> Decimal:
        """What is neither spent, reserved nor gone: what the next consumption may take."""
        return self.credit_amount - self.consumed - self.held - self.expired - self.voided

    def is_effective_on(self, day: date) -> bool:
        if day < self.effective_from:
            return False
        return self.effective_until is None or day <= self.effective_until

    def status_on(self, day: date) -> CreditStatus:
        """The status a reader sees on `day`, whether or not the sweeper has run."""
        if self.status is not CreditStatus.ACTIVE:
            return self.status
        if self.effective_until is not None and day > self.effective_until:
            return CreditStatus.EXPIRED
        return self.status

    @property
    def expired_at(self) -> datetime | None:
        """The instant the credit expires: 00:00Z the day after `effective_until` (inclusive),
        or its creation when it was granted already past that."""
        if self.effective_until is None:
            return None
        ends = datetime.combine(self.effective_until + timedelta(days=1), time(0), tzinfo=UTC)
        return max(ends, self.created_at)

    def is_due_for_expiry(self, day: date) -> bool:
        return self.status is CreditStatus.ACTIVE and self.status_on(day) is CreditStatus.EXPIRED

    def is_spendable_on(self, day: date) -> bool:
        return (
            self.status_on(day) is CreditStatus.ACTIVE
            and self.is_effective_on(day)
            and self.remaining > 0
        )


@dataclass(frozen=True)
class Movement:
    """A ledger transaction a transition asks the store to append."""

    type: TransactionType
    amount: Decimal


def grant(
    credit_id: str,
    amount: Decimal,
    priority: int,
    effective_from: date,
    effective_until: date | None,
    created_at: datetime,
    applicable_entity_ids: tuple[str, ...] | None = None,
) -> tuple[Credit, Movement]:
    """A new credit and the CREDITED movement that brings its amount into the ledger: the one
    way a credit is made (a grant, auto top-up)."""
    credit = Credit(
        id=credit_id,
        priority=priority,
        effective_from=effective_from,
        effective_until=effective_until,
        created_at=created_at,
        applicable_entity_ids=applicable_entity_ids,
        credit_amount=amount,
    ).checked()
    return credit, Movement(TransactionType.CREDITED, amount)


def applies_to(
    applicable_entity_ids: Sequence[str] | None, entity_id: str, entity_type: str | None
) -> bool:
    """Whether a credit restricted to `applicable_entity_ids` may pay for this line."""
    if not applicable_entity_ids:
        return True
    if entity_id in applicable_entity_ids:
        return True
    return any(
        _WILDCARD_TYPES.get(item) == entity_type and entity_type is not None
        for item in applicable_entity_ids
    )


def burn_down_key(credit: Credit) -> tuple[int, bool, date, date, datetime, str]:
    """Total order in which credits are spent: priority, soonest expiry (never last), age, id.

    "Never expires" sorts after every date, 9999-12-31 included, hence the flag before it.
    """
    return (
        credit.priority,
        credit.effective_until is None,
        credit.effective_until or date.min,
        credit.effective_from,
        credit.created_at,
        credit.id,
    )


@dataclass(frozen=True)
class Line:
    entity_id: str
    entity_type: str | None
    amount: Decimal


@dataclass(frozen=True)
class Allocation:
    line_index: int
    credit_id: str
    amount: Decimal


def allocate(credits: Iterable[Credit], lines: Sequence[Line], day: date) -> list[Allocation]:
    """Cover each line, in order, from spendable credits in burn-down order.

    Partial cover is a valid answer: what no credit can pay is simply not allocated.
    """
    ordered = sorted((c for c in credits if c.is_spendable_on(day)), key=burn_down_key)
    left = {c.id: c.remaining for c in ordered}
    allocations: list[Allocation] = []
    for index, line in enumerate(lines):
        need = line.amount
        for credit in ordered:
            if need <= 0:
                break
            if not applies_to(credit.applicable_entity_ids, line.entity_id, line.entity_type):
                continue
            take = min(need, left[credit.id])
            if take <= 0:
                continue
            allocations.append(Allocation(index, credit.id, take))
            left[credit.id] -= take
            need -= take
    return allocations


def _settle_status(credit: Credit) -> Credit:
    if credit.status is CreditStatus.ACTIVE and credit.remaining == 0 and credit.held == 0:
        return replace(credit, status=CreditStatus.CONSUMED).checked()
    return credit


def hold(credit: Credit, amount: Decimal, day: date) -> Credit:
    if not credit.is_spendable_on(day) or amount > credit.remaining or amount <= 0:
        raise Conflict(f"credit {credit.id} cannot reserve {amount}")
    return replace(credit, held=credit.held + amount).checked()


def capture(credit: Credit, amount: Decimal) -> tuple[Credit, Movement]:
    if amount <= 0 or amount > credit.held:
        raise Conflict(f"credit {credit.id} holds less than {amount}")
    moved = replace(credit, held=credit.held - amount, consumed=credit.consumed + amount).checked()
    return _settle_status(moved), Movement(TransactionType.DEBITED, amount)


def release(credit: Credit, amount: Decimal) -> tuple[Credit, Movement | None]:
    """Return held money; on a credit that expired meanwhile it leaves as expired money."""
    if amount <= 0 or amount > credit.held:
        raise Conflict(f"credit {credit.id} holds less than {amount}")
    freed = replace(credit, held=credit.held - amount).checked()
    if credit.status is CreditStatus.EXPIRED:
        return (
            replace(freed, expired=freed.expired + amount).checked(),
            Movement(TransactionType.EXPIRED, amount),
        )
    return freed, None


def expire(credit: Credit, day: date) -> tuple[Credit, Movement | None]:
    """Close a credit whose window has ended; held money stays capturable."""
    if not credit.is_due_for_expiry(day):
        return credit, None
    left = credit.remaining
    expired = replace(credit, status=CreditStatus.EXPIRED, expired=credit.expired + left).checked()
    return expired, (Movement(TransactionType.EXPIRED, left) if left > 0 else None)


def void(credit: Credit, day: date) -> tuple[Credit, Movement | None]:
    """Cancel the unused remainder. Voiding twice is a no-op; spent or reserved money blocks it."""
    status = credit.status_on(day)
    if status is CreditStatus.VOIDED:
        return credit, None
    if status is CreditStatus.CONSUMED:
        raise Conflict(f"credit {credit.id} is CONSUMED: nothing is left to void")
    if status is CreditStatus.EXPIRED:
        raise Conflict(f"credit {credit.id} is EXPIRED: nothing is left to void")
    if credit.held > 0:
        raise Conflict(
            f"credit {credit.id} has {credit.held} on hold; capture or release the holds first"
        )
    left = credit.remaining
    voided = replace(credit, status=CreditStatus.VOIDED, voided=credit.voided + left).checked()
    return voided, (Movement(TransactionType.VOIDED, left) if left > 0 else None)


@dataclass(frozen=True)
class Balance:
    active_credits: Decimal
    available_balance: Decimal
    running_balance: Decimal
    inapplicable_credits: Decimal


def balance(credits: Iterable[Credit], day: date) -> Balance:
    active = available = held = inapplicable = ZERO
    for credit in credits:
        if credit.status_on(day) is not CreditStatus.ACTIVE:
            continue
        if credit.is_effective_on(day):
            active += credit.credit_amount
            available += credit.credit_amount - credit.consumed
            held += credit.held
        elif day < credit.effective_from:
            inapplicable += credit.remaining
    return Balance(active, available, available - held, inapplicable)


@dataclass(frozen=True)
class LedgerEvent:
    """One timed fact of a credit's history, used to rebuild it as of a past instant."""

    at: datetime
    kind: str  # a TransactionType value, or HOLD / UNHOLD for reservations
    amount: Decimal


HOLD = "HOLD"
UNHOLD = "UNHOLD"


def replay(terms: Credit, events: Iterable[LedgerEvent], at: datetime) -> Credit | None:
    """The credit as it stood at `at`, rebuilt from its ledger; None if it did not exist yet.

    The parts are summed first and the credit made once: within one instant the events of a
    capture (DEBITED, UNHOLD) come in the order they were written, and only their end state is
    a state of the credit.
    """
    if terms.created_at > at:
        return None
    fresh = replace(
        terms, status=CreditStatus.ACTIVE, consumed=ZERO, held=ZERO, expired=ZERO, voided=ZERO
    )
    status = CreditStatus.ACTIVE
    totals = {TransactionType.DEBITED: ZERO, TransactionType.EXPIRED: ZERO}
    totals |= {TransactionType.VOIDED: ZERO}
    held = ZERO
    for event in sorted(events, key=lambda e: e.at):
        if event.at > at:
            break
        if status is CreditStatus.ACTIVE and fresh.is_due_for_expiry(event.at.date()):
            # Every write after the window ends is preceded by the expiry, which writes no
            # transaction when nothing was left (all held): a later capture leaves it EXPIRED.
            status = CreditStatus.EXPIRED
        if event.kind in totals:
            totals[TransactionType(event.kind)] += event.amount
            if event.kind == TransactionType.EXPIRED:
                status = CreditStatus.EXPIRED
            elif event.kind == TransactionType.VOIDED:
                status = CreditStatus.VOIDED
        elif event.kind == HOLD:
            held += event.amount
        elif event.kind == UNHOLD:
            held -= event.amount
    state = replace(
        fresh,
        status=status,
        consumed=totals[TransactionType.DEBITED],
        held=held,
        expired=totals[TransactionType.EXPIRED],
        voided=totals[TransactionType.VOIDED],
    )
    return _settle_status(state)
