"""Reading and adjusting an account's entitlements: feature credits, entries, values."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from grantledger.domain import entitlements as rules
from grantledger.domain.cycles import schedule_in_force
from grantledger.domain.entitlements import Entry, FeatureCredits, PlanType, ValueType
from grantledger.domain.errors import InvalidInput, NotFound
from grantledger.domain.plans import PlanFeature, held_values
from grantledger.domain.windows import group_of
from grantledger.service.context import Tenant
from grantledger.service.entitlements import plan_view
from grantledger.service.entitlements.cycles import make_cycle_entries
from grantledger.service.entitlements.entry_changes import change_entry
from grantledger.store.entitlements import (
    entries,
    event_log,
    feature_holds,
    features,
    history,
    schedules,
    values,
)
from grantledger.store.entitlements.entries import EntryRecord
from grantledger.store.entitlements.features import FeatureRecord
from grantledger.store.paging import Page
from grantledger.store.parties import parties
from grantledger.store.tx import Tx


async def _require_account(tx: Tx, account_id: str) -> None:
    if await parties.get_account(tx, account_id) is None:
        raise NotFound(f"account {account_id} not found")


async def _require(tx: Tx, account_id: str, feature_id: str) -> FeatureRecord:
    await _require_account(tx, account_id)
    feature = await features.get_feature(tx, feature_id)
    if feature is None:
        raise NotFound(f"feature {feature_id} not found")
    return feature


async def feature_credits(
    tenant: Tenant, account_id: str, feature_id: str, as_of: datetime | None
) -> FeatureCredits:
    now = tenant.now()
    if as_of is not None and as_of > now:
        raise InvalidInput("asOf must not be in the future")

    async def work(tx: Tx) -> FeatureCredits:
        await _require(tx, account_id, feature_id)
        at = as_of or now
        plans = await plan_view.billing_schedules(tx, account_id, as_of)
        if as_of is None:
            # Only entries effective now count: the current cycle's, not every cycle since a
            # back-dated plan began (a read stays flat in the plan's age).
            stored = await entries.account_entries(tx, account_id, [feature_id], effective_at=at)
            held = [r.entry for r in stored]
        else:
            # Only the cycle holding `as_of` matters, and only entries around it are read.
            held = await _entries_as_of(tx, account_id, feature_id, at)
        candidates = plan_view.cycle_at(plans, feature_id, at)
        candidates += plan_view.rollovers_unmade(plans, feature_id, at)
        unmade = await plan_view.unmade(tx, account_id, candidates)
        lapsed = await plan_view.lapsed_holds(tx, plans, account_id, at)
        shown = await plan_view.shown(
            tx, plans, account_id, feature_id, held + unmade, as_of, lapsed
        )
        reserved = await feature_holds.held_units(tx, account_id, feature_id, at)
        return replace(rules.feature_credits(shown, at), held=reserved)

    return await tenant.run(work)


async def _entries_as_of(tx: Tx, account_id: str, feature_id: str, at: datetime) -> list[Entry]:
    """Entries as they stood at `at`: later changes undone, later draws left out."""
    changes = await history.changes_after(tx, account_id, feature_id, at)
    records = await entries.entries_around(
        tx, account_id, feature_id, at, sorted({c.entry_id for c in changes})
    )
    since = await history.draws_after(tx, account_id, feature_id, at)
    undone = await event_log.reversed_after(tx, account_id, feature_id, at)
    state = {
        r.entry.id: replace(
            r.entry,
            used=r.entry.used
            - since.get(r.entry.id, Decimal(0))
            + undone.get(r.entry.id, Decimal(0)),
        )
        for r in records
        if r.created_at <= at
    }
    for change in changes:
        entry = state.get(change.entry_id)
        if entry is None:
            continue
        before = change.before
        state[entry.id] = replace(
            entry,
            granted=before.granted,
            effective_until=before.effective_until,
            voided=before.voided,
        )
    return list(state.values())


async def list_entries(
    tenant: Tenant, account_id: str, feature_id: str, after: str | None, limit: int
) -> Page[EntryRecord]:
    """The feature's entries, newest first: those stored, and the plan entries of every begun
    cycle not made yet (listed as they will be when made), each plan entry as its usage window
    leaves it."""

    async def work(tx: Tx) -> Page[EntryRecord]:
        await _require(tx, account_id, feature_id)
        now = tenant.now()
        plans = await plan_view.billing_schedules(tx, account_id)
        page = await entries.list_entries(tx, account_id, feature_id, after, limit)
        candidates = plan_view.begun(plans, feature_id, now)
        candidates += plan_view.rollovers_unmade(plans, feature_id, now)
        unmade = await plan_view.unmade(tx, account_id, candidates)
        listed = [
            plan_view.unmade_record(tenant.org_id, account_id, feature_id, e, now) for e in unmade
        ]
        listed = [r for r in listed if after is None or r.row_key < after]
        merged = sorted([*page.items, *listed], key=lambda r: r.row_key, reverse=True)
        items = merged[:limit]
        more = page.last_key is not None or len(merged) > limit
        lapsed = await plan_view.lapsed_holds(tx, plans, account_id, now)
        shown = await plan_view.shown(
            tx, plans, account_id, feature_id, [r.entry for r in items], lapsed=lapsed
        )
        records = [replace(r, entry=e) for r, e in zip(items, shown, strict=True)]
        return Page(records, records[-1].row_key if more and records else None)

    return await tenant.run(work)


async def _change_entry(
    tenant: Tenant,
    account_id: str,
    feature_id: str,
    entry_id: str,
    kind: str,
    change: Callable[[Entry, datetime], Entry],
) -> EntryRecord:
    async def work(tx: Tx) -> EntryRecord:
        await _require(tx, account_id, feature_id)
        await _make_if_plan(tenant, tx, account_id, feature_id, entry_id)
        record = await entries.get_entry(tx, account_id, feature_id, entry_id, lock=True)
        if record is None:
            raise NotFound(f"entry {entry_id} not found")
        now = tenant.now()
        entry = change(record.entry, now)
        if entry == record.entry:
            return record
        await change_entry(tenant, tx, record, entry, kind, now)
        return replace(record, entry=entry, updated_at=now)

    return await tenant.run(work)


async def _make_if_plan(
    tenant: Tenant, tx: Tx, account_id: str, feature_id: str, entry_id: str
) -> None:
    """Make the entry first if it is a begun plan cycle's not made yet (a change is a write)."""
    if group_of(entry_id) is None:
        return
    plans = await plan_view.billing_schedules(tx, account_id)
    for e in plan_view.begun(plans, feature_id, tenant.now()):
        if e.id == entry_id:
            await make_cycle_entries(tenant, tx, account_id, e.effective_from, [feature_id])
            return


async def patch_entry(
    tenant: Tenant,
    account_id: str,
    feature_id: str,
    entry_id: str,
    effective_until: datetime | None,
    granted: Decimal | None,
) -> EntryRecord:
    def change(entry: Entry, now: datetime) -> Entry:
        return rules.patch(entry, now, effective_until=effective_until, granted=granted)

    return await _change_entry(tenant, account_id, feature_id, entry_id, "PATCH", change)


async def void_entry(
    tenant: Tenant, account_id: str, feature_id: str, entry_id: str
) -> EntryRecord:
    return await _change_entry(tenant, account_id, feature_id, entry_id, "VOID", rules.void)


# --- values -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Holding:
    """What an account holds of one feature right now."""

    feature_id: str
    value_type: ValueType
    value: str | None  # set on the account or by its plan
    remaining: Decimal | None  # balance + remaining overage, for metered features

    @property
    def shown(self) -> str:
        if self.value is not None:
            return self.value
        return rules.metered_value(self.remaining or Decimal(0))


async def _plans_in_force(tx: Tx, account_id: str, now: datetime) -> list[list[PlanFeature]]:
    """The features of the account's BILLING plans in force at `now`, oldest schedule first."""
    found: list[list[PlanFeature]] = []
    for planned in await schedules.account_schedules(tx, account_id):
        s = planned.schedule
        if planned.plan_type is PlanType.BILLING and schedule_in_force(
            s.effective_from, s.effective_until, now
        ):
            found.append(list(planned.features))
    return found


async def _holdings(tenant: Tenant, tx: Tx, account_id: str) -> dict[str, Holding]:
    now = tenant.now()
    in_force = await _plans_in_force(tx, account_id, now)
    plans = await plan_view.billing_schedules(tx, account_id)
    by_feature: dict[str, list[Entry]] = {}
    for record in await entries.account_entries(tx, account_id, effective_at=now):
        by_feature.setdefault(record.feature_id, []).append(record.entry)
    for f in sorted({item.feature_id for items in in_force for item in items}):
        candidates = plan_view.cycle_at(plans, f, now) + plan_view.rollovers_unmade(plans, f, now)
        made = await plan_view.unmade(tx, account_id, candidates)
        if made:
            by_feature.setdefault(f, []).extend(made)
    remaining: dict[str, Decimal] = {}
    lapsed = await plan_view.lapsed_holds(tx, plans, account_id, now)
    for f, held in by_feature.items():
        shown = await plan_view.shown(tx, plans, account_id, f, held, lapsed=lapsed)
        remaining[f] = sum((e.balance for e in shown), Decimal(0))
    value_of = held_values(in_force, await values.account_values(tx, account_id))
    held_ids = sorted(set(value_of) | set(remaining))
    known = await features.get_features(tx, held_ids)
    return {
        f: Holding(
            feature_id=f,
            value_type=known[f].value_type,
            value=value_of.get(f),
            remaining=remaining.get(f),
        )
        for f in held_ids
        if f in known
    }


async def entitlements(tenant: Tenant, account_id: str) -> list[Holding]:
    async def work(tx: Tx) -> list[Holding]:
        await _require_account(tx, account_id)
        return list((await _holdings(tenant, tx, account_id)).values())

    return await tenant.run(work)


async def entitlement(tenant: Tenant, account_id: str, feature_id: str) -> Holding:
    async def work(tx: Tx) -> Holding:
        await _require(tx, account_id, feature_id)
        holding = (await _holdings(tenant, tx, account_id)).get(feature_id)
        if holding is None:
            raise NotFound(f"account {account_id} holds no entitlement to feature {feature_id}")
        return holding

    return await tenant.run(work)


async def validate(tenant: Tenant, account_id: str, feature_id: str, asked: str) -> bool:
    async def work(tx: Tx) -> bool:
        await _require(tx, account_id, feature_id)
        holding = (await _holdings(tenant, tx, account_id)).get(feature_id)
        if holding is None:
            return False
        return rules.is_satisfied(holding.value_type, holding.value, asked, holding.remaining)

    return await tenant.run(work)


async def set_value(tenant: Tenant, account_id: str, feature_id: str, value: str) -> Holding:
    async def work(tx: Tx) -> Holding:
        # Share-locked: a deletion of the account waits, or this finds it gone (no value is
        # left for an account that no longer exists).
        await parties.share_lock_account(tx, account_id)
        feature = await _require(tx, account_id, feature_id)
        rules.check_value(feature.value_type, feature.allowed_values, value)
        await values.set_value(tx, account_id, feature_id, value, tenant.now())
        return (await _holdings(tenant, tx, account_id))[feature_id]

    return await tenant.run(work)
