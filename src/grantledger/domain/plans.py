"""Entitlement plans: what a plan lists, when a schedule is in force, what a purchase grants.

Pure rules; the service reads the rows and the store writes what these return.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from grantledger.domain.days import midnight
from grantledger.domain.entitlements import PlanType, add_validity, parse_validity
from grantledger.domain.errors import InvalidInput
from grantledger.domain.money import check_precision


@dataclass(frozen=True)
class Rollover:
    """What of a cycle's unused allowance moves on (extension): at most `max_units` units
    (None: all of it), usable for `max_cycles` more cycles (None: one)."""

    max_units: Decimal | None = None
    max_cycles: int | None = None

    @property
    def cycles(self) -> int:
        return self.max_cycles if self.max_cycles is not None else 1


@dataclass(frozen=True)
class PlanFeature:
    """One feature of a plan: a value, credits per cycle (plus overage on BILLING), or both."""

    feature_id: str
    value: str | None
    credits_per_cycle: Decimal | None
    overage_per_cycle: Decimal | None
    validity: str | None  # ISO 8601 duration of a purchased entry (PnYnMnWnD)
    rollover: Rollover | None = None


def check_plan_features(plan_type: PlanType, items: Sequence[PlanFeature]) -> None:
    """The rules a plan's feature list obeys before any feature is looked up."""
    ids = [f.feature_id for f in items]
    if len(ids) != len(set(ids)):
        raise InvalidInput("a plan lists each feature once")
    for item in items:
        if item.validity is not None:
            parse_validity(item.validity)
        if plan_type is PlanType.PURCHASE and item.overage_per_cycle is not None:
            raise InvalidInput("overagePerCycle applies to BILLING plans only")
        if item.rollover is not None:
            if plan_type is not PlanType.BILLING:
                raise InvalidInput("rollover applies to BILLING plans only")
            if item.credits_per_cycle is None:
                raise InvalidInput(
                    f"plan feature {item.feature_id}: rollover needs creditsPerCycle to roll over"
                )


def held_values(
    plans_in_force: Iterable[Sequence[PlanFeature]], set_on_account: Mapping[str, str]
) -> dict[str, str | None]:
    """Feature id -> the value an account holds: a value set on the account wins; else the
    last plan (in schedule order) that lists the feature. A feature a plan lists with credits
    only is held with no value (its value is what remains of the credits)."""
    held: dict[str, str | None] = {}
    for items in plans_in_force:
        for item in items:
            held[item.feature_id] = item.value
    held.update(set_on_account)
    return held


@dataclass(frozen=True)
class PurchaseGrant:
    """The entry one purchased feature yields; `index` is the feature's place in the plan."""

    feature_id: str
    index: int
    granted: Decimal
    effective_from: datetime
    effective_until: datetime | None


def purchase_grants(
    plan_id: str,
    items: Sequence[PlanFeature],
    quantities: Mapping[str, Decimal] | None,
    quantity: int,
    begins: datetime,
    until: date | None,
    expiry: datetime | None = None,
) -> list[PurchaseGrant]:
    """What a purchase grants of each feature: credits per cycle times the feature's rate-card
    quantity (every feature the plan sells credits of, at 1, when none are named) times the
    purchase's `quantity`. Each runs from `begins` until `until` (a day), else for the
    feature's validity, else open-ended, and never past `expiry`."""
    if quantity < 1:
        raise InvalidInput("quantity must be at least 1")
    if expiry is not None and expiry <= begins:
        raise InvalidInput("expiryDate must be after the purchase takes effect")
    listed = {f.feature_id: (i, f) for i, f in enumerate(items, start=1)}
    if quantities is None:
        quantities = {f.feature_id: Decimal(1) for f in items if f.credits_per_cycle is not None}
        if not quantities:
            raise InvalidInput(f"plan {plan_id} sells no feature credits")
    grants: list[PurchaseGrant] = []
    for feature_id, per_unit in quantities.items():
        found = listed.get(feature_id)
        credits = found[1].credits_per_cycle if found is not None else None
        if found is None or credits is None:
            raise InvalidInput(f"plan {plan_id} sells no credits of feature {feature_id}")
        index, item = found
        granted = credits * per_unit * quantity
        check_precision(granted, f"credits of {feature_id}")
        if until is not None:
            ends: datetime | None = midnight(until)
        elif item.validity is not None:
            ends = add_validity(begins, item.validity)
        else:
            ends = None
        if expiry is not None:
            ends = expiry if ends is None else min(ends, expiry)
        grants.append(PurchaseGrant(feature_id, index, granted, begins, ends))
    return grants
