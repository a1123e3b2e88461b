"""Property tests of the plan rules in `domain/plans.py`: which days a schedule is in force,
where a plan change closes an overlapping schedule, what a purchase grants, and the checks of
a plan's feature list.

Expectations come from small reference models written here (days as sets, amounts summed by
hand), not from the code under test.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from grantledger.domain.cycles import closing_day, schedule_in_force
from grantledger.domain.entitlements import PlanType
from grantledger.domain.errors import InvalidInput
from grantledger.domain.plans import PlanFeature, check_plan_features, held_values, purchase_grants

DAY0 = date(2026, 1, 1)
HORIZON = 60  # days the reference models look at
days = st.integers(min_value=0, max_value=HORIZON - 1).map(lambda n: DAY0 + timedelta(days=n))
optional_days = st.none() | days
instants = st.datetimes(
    min_value=datetime(2025, 12, 25), max_value=datetime(2026, 3, 10), timezones=st.just(UTC)
)
amounts = st.decimals(min_value=0, max_value=10**6, places=4, allow_nan=False)
quantities = st.decimals(min_value=Decimal("0.01"), max_value=10**4, places=2, allow_nan=False)
feature_ids = st.sampled_from([f"f{i}" for i in range(8)])
validities = st.none() | st.sampled_from(["P30D", "P1M", "P2W", "P1Y", "P1Y2M3D"])


def _span(begin: date, until: date | None) -> set[date]:
    """The days of `[begin, until)` within the horizon (an open end runs to the horizon)."""
    last = until or DAY0 + timedelta(days=HORIZON + 1)
    return {begin + timedelta(days=n) for n in range((last - begin).days)}


# --- schedule_in_force ---------------------------------------------------------------------


@given(days, optional_days, instants)
def test_a_schedule_is_in_force_on_its_days_in_utc(
    begin: date, until: date | None, at: datetime
) -> None:
    assume(until is None or until > begin)
    # The UTC calendar day of `at` decides: a schedule covers whole days.
    expected = begin <= at.date() and (until is None or at.date() < until)
    assert schedule_in_force(begin, until, at) is expected


@given(days, optional_days)
def test_a_schedule_starts_at_midnight_and_ends_just_before_its_last_midnight(
    begin: date, until: date | None
) -> None:
    assume(until is None or until > begin)
    start = datetime.combine(begin, time(0), tzinfo=UTC)
    assert schedule_in_force(begin, until, start)
    assert not schedule_in_force(begin, until, start - timedelta(microseconds=1))
    if until is not None:
        end = datetime.combine(until, time(0), tzinfo=UTC)
        assert schedule_in_force(begin, until, end - timedelta(microseconds=1))
        assert not schedule_in_force(begin, until, end)


# --- closing_day -----------------------------------------------------------------------------


@given(days, optional_days, days, optional_days)
def test_a_plan_change_closes_an_old_schedule_at_the_first_shared_day(
    old_from: date, old_until: date | None, start: date, end: date | None
) -> None:
    assume(old_until is None or old_until > old_from)
    assume(end is None or end > start)
    shared = _span(old_from, old_until) & _span(start, end)
    close = closing_day(old_from, old_until, start, end)
    if not shared:
        assert close is None
        return
    assert close == min(shared)
    # Once closed there, the old schedule and the new one share no day.
    assert not _span(old_from, close) & _span(start, end)


# --- purchase_grants -------------------------------------------------------------------------


@st.composite
def plans_and_orders(
    draw: st.DrawFn,
) -> tuple[list[PlanFeature], dict[str, Decimal]]:
    ids = draw(st.lists(feature_ids, min_size=1, max_size=6, unique=True))
    items = [PlanFeature(f, None, draw(amounts), None, draw(validities)) for f in ids]
    bought = draw(st.lists(st.sampled_from(ids), min_size=1, unique=True))
    return items, {f: draw(quantities) for f in bought}


@given(plans_and_orders(), instants, optional_days, st.integers(1, 1000))
def test_a_purchase_grants_credits_times_quantity_of_each_feature_bought(
    plan: tuple[list[PlanFeature], dict[str, Decimal]],
    begins: datetime,
    until: date | None,
    units: int,
) -> None:
    items, order = plan
    grants = purchase_grants("plan", items, order, units, begins, until)
    assert [g.feature_id for g in grants] == list(order)
    listed = [f.feature_id for f in items]
    for grant in grants:
        item = items[listed.index(grant.feature_id)]
        assert grant.index == listed.index(grant.feature_id) + 1
        assert item.credits_per_cycle is not None
        assert grant.granted == item.credits_per_cycle * order[grant.feature_id] * units
        assert grant.effective_from == begins
        if until is not None:
            assert grant.effective_until == datetime.combine(until, time(0), tzinfo=UTC)
        elif item.validity is None:
            assert grant.effective_until is None
        else:
            assert grant.effective_until is not None and grant.effective_until > begins
    # Exact arithmetic: nothing is lost or rounded across the purchase.
    total = sum((g.granted for g in grants), Decimal(0))
    by_hand = Decimal(0)
    for feature_id, quantity in order.items():
        credits = items[listed.index(feature_id)].credits_per_cycle
        assert credits is not None
        by_hand += credits * quantity * units
    assert total == by_hand


@given(plans_and_orders(), instants, st.integers(1, 50))
def test_a_purchase_naming_no_feature_buys_each_one_sold_once_per_unit(
    plan: tuple[list[PlanFeature], dict[str, Decimal]], begins: datetime, units: int
) -> None:
    items, _ = plan
    grants = purchase_grants("plan", items, None, units, begins, None)
    assert [(g.feature_id, g.granted) for g in grants] == [
        (f.feature_id, f.credits_per_cycle * units)
        for f in items
        if f.credits_per_cycle is not None
    ]


@given(plans_and_orders(), instants, optional_days, st.integers(1, 400))
def test_a_purchase_never_runs_past_its_expiry(
    plan: tuple[list[PlanFeature], dict[str, Decimal]],
    begins: datetime,
    until: date | None,
    hours: int,
) -> None:
    items, order = plan
    expiry = begins + timedelta(hours=hours)
    for grant in purchase_grants("plan", items, order, 1, begins, until, expiry):
        assert grant.effective_until is not None and grant.effective_until <= expiry


def test_a_purchase_of_no_unit_or_expiring_before_it_begins_is_refused() -> None:
    items = [PlanFeature("f", None, Decimal(1), None, None)]
    at = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(InvalidInput, match="quantity must be at least 1"):
        purchase_grants("plan", items, None, 0, at, None)
    with pytest.raises(InvalidInput, match="expiryDate must be after"):
        purchase_grants("plan", items, None, 1, at, None, at)


@given(plans_and_orders(), feature_ids, instants)
def test_a_purchase_of_a_feature_the_plan_sells_no_credits_of_is_refused(
    plan: tuple[list[PlanFeature], dict[str, Decimal]], other: str, begins: datetime
) -> None:
    items, order = plan
    listed = {f.feature_id for f in items}
    if other in listed:
        # Listed, but only as a value: still no credits to sell.
        items = [
            PlanFeature(f.feature_id, "on", None, None, None) if f.feature_id == other else f
            for f in items
        ]
    with pytest.raises(InvalidInput, match=f"sells no credits of feature {other}"):
        purchase_grants("plan", items, {**order, other: Decimal(1)}, 1, begins, None)


def test_a_purchase_beyond_the_kept_precision_is_refused() -> None:
    items = [PlanFeature("f", None, Decimal("0.000001"), None, None)]
    at = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(InvalidInput, match="credits of f has 12 decimal places"):
        purchase_grants("plan", items, {"f": Decimal("0.000001")}, 1, at, None)


def test_a_purchase_past_the_last_day_is_refused() -> None:
    items = [PlanFeature("f", None, Decimal(1), None, "P1Y")]
    at = datetime(9999, 6, 1, tzinfo=UTC)
    with pytest.raises(InvalidInput, match="runs past 9999-12-31"):
        purchase_grants("plan", items, {"f": Decimal(1)}, 1, at, None)


# --- check_plan_features ---------------------------------------------------------------------


@given(
    st.sampled_from(list(PlanType)),
    st.lists(
        st.builds(
            PlanFeature,
            feature_ids,
            st.none() | st.just("on"),
            st.none() | amounts,
            st.none() | amounts,
            validities | st.sampled_from(["30D", "P", "P1H", "1M"]),
        ),
        min_size=1,
        max_size=5,
    ),
)
def test_a_plan_lists_each_feature_once_with_valid_durations_and_no_purchased_overage(
    plan_type: PlanType, items: list[PlanFeature]
) -> None:
    ids = [f.feature_id for f in items]
    valid_durations = {None, "P30D", "P1M", "P2W", "P1Y", "P1Y2M3D"}
    problem = (
        len(set(ids)) != len(ids)
        or any(f.validity not in valid_durations for f in items)
        or (plan_type is PlanType.PURCHASE and any(f.overage_per_cycle is not None for f in items))
    )
    if problem:
        with pytest.raises(InvalidInput):
            check_plan_features(plan_type, items)
    else:
        check_plan_features(plan_type, items)


# --- held_values -----------------------------------------------------------------------------

plan_items = st.lists(
    st.builds(
        PlanFeature,
        feature_ids,
        st.none() | st.sampled_from(["on", "off", "10"]),
        st.none() | amounts,
        st.none(),
        st.none(),
    ),
    max_size=4,
    unique_by=lambda f: f.feature_id,
)


@given(
    st.lists(plan_items, max_size=4),
    st.dictionaries(feature_ids, st.sampled_from(["gold", "silver", "7"]), max_size=4),
)
def test_an_account_value_wins_over_its_plans_and_a_later_plan_over_an_earlier_one(
    plans: list[list[PlanFeature]], on_account: dict[str, str]
) -> None:
    held = held_values(plans, on_account)
    listed = {f.feature_id for items in plans for f in items}
    assert set(held) == listed | set(on_account)
    for feature_id, value in held.items():
        if feature_id in on_account:
            assert value == on_account[feature_id]
            continue
        # The newest plan listing the feature decides, even with no value (credits only).
        newest = next(f for items in reversed(plans) for f in items if f.feature_id == feature_id)
        assert value == newest.value
