"""Making plan-cycle entries: a write that draws from a plan cycle (the gate) or changes one of
its entries (a PATCH, a void) first makes the cycle's PRICE_PLAN and OVERAGE entries, and the
ROLLOVER entries valid then, if they are not stored yet. Nothing is drawn on them when made:
what they give comes from their usage window's figure (`domain/windows.py`). Reads never make
them (`plan_view.py`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from grantledger.domain.journal import JournalKind
from grantledger.domain.windows import (
    CLOCK_SKEW,
    PlanSchedule,
    cycle_entries,
    in_force,
    plan_row_key,
    rollover_made,
    rollovers_at,
    schedule_cycle,
)
from grantledger.service.context import Tenant
from grantledger.service.entitlements.plan_view import billing
from grantledger.store.entitlements import entries, schedules
from grantledger.store.entitlements.entries import EntryRecord
from grantledger.store.parties import parties
from grantledger.store.tx import Tx


def _cycle_records(
    tenant: Tenant,
    account_id: str,
    schedules_: Sequence[PlanSchedule],
    at: datetime,
    feature_ids: Sequence[str] | None,
    now: datetime,
) -> list[EntryRecord]:
    """The records of the plan entries of the cycle in force at `at` (if it has begun, a
    few seconds of clock skew allowed)."""
    s = in_force(schedules_, at)
    if s is None:
        return []
    cycle = schedule_cycle(s, at)
    if cycle is None or cycle.begins > now + CLOCK_SKEW:
        return []
    created = max(min(cycle.begins, now), s.created_at)
    owner = f"{tenant.org_id}/{account_id}"
    made = [
        EntryRecord.new(
            entry,
            account_id,
            feature_id,
            plan_row_key(f"{owner}/{feature_id}", entry),
            now,
            created_at=created,
        )
        for feature_id, entry in cycle_entries(s, cycle, feature_ids)
    ]
    for feature_id in (
        feature_ids if feature_ids is not None else [f.feature_id for f in s.features]
    ):
        for source in rollovers_at(schedules_, feature_id, at):
            entry = rollover_made(source)
            made.append(
                EntryRecord.new(
                    entry,
                    account_id,
                    feature_id,
                    plan_row_key(f"{owner}/{feature_id}", entry),
                    now,
                    created_at=max(min(entry.effective_from, now), s.created_at),
                )
            )
    return made


async def make_cycle_entries_of(
    tenant: Tenant, tx: Tx, needs: Sequence[tuple[str, datetime, Sequence[str]]]
) -> dict[str, list[PlanSchedule]]:
    """Make the plan entries of the cycle holding each (account, instant, features) a write
    needs; the BILLING schedules of those accounts.

    The accounts are share-locked together in id order (a plan change holds its account's row
    for update while it closes and opens schedules, so they stand still meanwhile); entries
    are keyed by schedule and cycle, so concurrent makers insert each once. Three statements
    when the cycles exist already (every event after a cycle's first).
    """
    if not needs:
        return {}
    now = tenant.now()
    account_ids = sorted({account for account, _, _ in needs})
    await parties.share_lock_accounts(tx, account_ids)
    planned = await schedules.schedules_of(tx, account_ids)
    found = {account: billing(planned.get(account, [])) for account in account_ids}
    wanted: dict[tuple[str, str, str], EntryRecord] = {}
    for account, at, feature_ids in needs:
        for record in _cycle_records(tenant, account, found[account], at, feature_ids, now):
            wanted[(account, record.feature_id, record.entry.id)] = record
    if wanted:
        present = await entries.present_entries(
            tx, account_ids, sorted({entry_id for _, _, entry_id in wanted})
        )
        missing = [wanted[k] for k in sorted(wanted) if k not in present]
        await entries.insert_entries(tx, missing, ignore_existing=True, kind=JournalKind.PLAN_GRANT)
    return found


async def make_cycle_entries(
    tenant: Tenant, tx: Tx, account_id: str, at: datetime, feature_ids: Sequence[str]
) -> list[PlanSchedule]:
    """`make_cycle_entries_of` for one account."""
    found = await make_cycle_entries_of(tenant, tx, [(account_id, at, feature_ids)])
    return found[account_id]
