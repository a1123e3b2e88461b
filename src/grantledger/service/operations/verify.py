"""Recompute every cached figure from the append-only ledger and report each difference."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncConnection

from grantledger.domain.credits import CreditStatus, TransactionType
from grantledger.domain.holds import HoldStatus
from grantledger.domain.journal import Position
from grantledger.domain.windows import (
    Drawn,
    PlanSchedule,
    Window,
    group_of,
    rollover_of,
    rollover_origin,
    usage_window,
    window_problems,
)
from grantledger.service.context import Context
from grantledger.service.entitlements import plan_view
from grantledger.store.backend import Backend
from grantledger.store.books import journal
from grantledger.store.credits import credits as store
from grantledger.store.credits.credit_transactions import transactions_of
from grantledger.store.credits.credits import CachedCredit
from grantledger.store.credits.holds import hold_events_of
from grantledger.store.entitlements import audit as entitlement_audit
from grantledger.store.entitlements import entries as entry_store
from grantledger.store.entitlements import schedules as schedule_store
from grantledger.store.entitlements import usage
from grantledger.store.entitlements.audit import CachedEntry
from grantledger.store.paging import Page
from grantledger.store.tx import Tx

_PAGE = 500
_DAWN = datetime.min.replace(tzinfo=UTC)


def _check_credit(
    c: CachedCredit, sums: dict[str, Decimal], credited_count: int, held: Decimal
) -> list[str]:
    # The row as stored, never a `Credit`: a broken row is reported, not refused (see
    # `store.credits.CachedCredit`).
    problems: list[str] = []

    def expect(name: str, cached: Decimal, ledger: Decimal) -> None:
        if cached != ledger:
            problems.append(
                f"credit {c.id}: {name} is {cached} on the row but {ledger} in the ledger"
            )

    if credited_count != 1 or sums[TransactionType.CREDITED] != c.credit_amount:
        problems.append(
            f"credit {c.id}: creditAmount {c.credit_amount} but {credited_count} CREDITED "
            f"transaction(s) totalling {sums[TransactionType.CREDITED]}"
        )
    expect("consumedAmount", c.consumed, sums[TransactionType.DEBITED])
    expect("expiredAmount", c.expired, sums[TransactionType.EXPIRED])
    expect("voidedAmount", c.voided, sums[TransactionType.VOIDED])
    expect("holdAmount", c.held, held)
    if c.remaining < 0:
        problems.append(f"credit {c.id}: overdrawn by {-c.remaining}")
    if c.status == CreditStatus.CONSUMED and (c.remaining != 0 or c.held != 0):
        problems.append(f"credit {c.id}: CONSUMED with {c.remaining} left and {c.held} held")
    if c.status == CreditStatus.ACTIVE and c.remaining == 0 and c.held == 0:
        problems.append(f"credit {c.id}: ACTIVE with nothing left (should be CONSUMED)")
    if (c.status == CreditStatus.VOIDED) != (sums[TransactionType.VOIDED] > 0):
        problems.append(f"credit {c.id}: status {c.status} disagrees with its VOIDED transactions")
    return problems


async def verify_ledger(ctx: Context, org_id: str | None = None) -> tuple[int, int, list[str]]:
    """(credits checked, entries checked, problems found) of every organization (or of
    `org_id`), all read from one snapshot.

    Rows and ledger are read at one instant, so a debit committing between the read of a
    credit and the read of its transactions cannot look like a mismatch: the check is exactly
    as clean on a live database as at rest.
    """

    async def both(conn: AsyncConnection) -> tuple[int, int, list[str]]:
        credits_checked, credit_problems = await verify_credits(conn, ctx.db.backend, org_id)
        entries_checked, entry_problems = await verify_entries(conn, ctx.db.backend, org_id)
        window_problems = await verify_windows(conn, ctx.db.backend, org_id)
        corrections = await entitlement_audit.correction_problems(conn, org_id)
        problems = credit_problems + entry_problems + window_problems + corrections
        return credits_checked, entries_checked, problems

    return await ctx.db.read_snapshot(both)


async def verify_credits(
    snapshot: AsyncConnection, backend: Backend, only_org: str | None = None
) -> tuple[int, list[str]]:
    """(credits checked, problems found), paging through one read transaction."""
    checked = 0
    problems: list[str] = []
    after: str | None = None
    while True:

        async def work(conn: AsyncConnection, cursor: str | None = after) -> Page[CachedCredit]:
            page = await store.all_credits(conn, cursor, _PAGE, only_org)
            by_org: dict[str, list[str]] = defaultdict(list)
            for r in page.items:
                by_org[r.org_id].append(r.id)
            sums: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
            counts: dict[str, int] = defaultdict(int)
            held: dict[str, Decimal] = defaultdict(Decimal)
            booked: dict[str, Position] = {}
            for org_id, ids in by_org.items():
                tx = Tx(conn, org_id, backend)
                for (_, feature, subject), position in (await journal.sums_of(tx, ids)).items():
                    if feature is None:
                        booked[subject] = position
                for t in await transactions_of(tx, ids):
                    sums[t.credit_id][t.transaction_type] += t.amount
                    if t.transaction_type == TransactionType.CREDITED:
                        counts[t.credit_id] += 1
                for h in await hold_events_of(tx, ids):
                    if h.status is HoldStatus.HELD:
                        held[h.credit_id] += h.amount
            for r in page.items:
                problems.extend(_check_credit(r, sums[r.id], counts[r.id], held[r.id]))
                problems.extend(_check_booked(f"credit {r.id}", booked.get(r.id), r.figures))
            return page

        page = await work(snapshot)
        checked += len(page.items)
        if page.last_key is None:
            return checked, problems
        after = page.last_key


async def verify_entries(
    snapshot: AsyncConnection, backend: Backend, only_org: str | None = None
) -> tuple[int, list[str]]:
    """Every feature entry: `used` equals its carried usage plus the sum of its draws, and
    `0 <= used <= granted`."""
    checked = 0
    problems: list[str] = []
    after: str | None = None
    while True:

        async def work(conn: AsyncConnection, cursor: str | None = after) -> Page[CachedEntry]:
            page = await entitlement_audit.all_entries(conn, cursor, _PAGE, only_org)
            by_org: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
            for r in page.items:
                by_org[r.org_id].append((r.account_id, r.feature_id, r.id))
            sums: dict[tuple[str, str, str, str], Decimal] = {}
            booked: dict[tuple[str, str, str | None, str], Position] = {}
            for org_id, keys in by_org.items():
                # Draws are read per organization, each through its own tenant-bound `Tx`.
                found = await entitlement_audit.draw_sums(Tx(conn, org_id, backend), keys)
                sums.update(((org_id, *key), total) for key, total in found.items())
                rows = await journal.sums_of(Tx(conn, org_id, backend), [k[2] for k in keys])
                booked.update(((org_id, *key), position) for key, position in rows.items())
            for r in page.items:
                key = (r.org_id, r.account_id, r.feature_id, r.id)
                problems.extend(_check_entry(r, sums[key]))
                left = Decimal(0) if r.voided else r.granted - r.used
                name = f"entry {r.id} (account {r.account_id}, feature {r.feature_id})"
                problems.extend(_check_booked(name, booked.get(key), Position(left)))
            return page

        page = await work(snapshot)
        checked += len(page.items)
        if page.last_key is None:
            return checked, problems
        after = page.last_key


def _check_booked(name: str, booked: Position | None, kept: Position) -> list[str]:
    """The journal's sums of a credit or an entry against the figures it holds."""
    if booked is None:
        return [f"{name}: no row in the journal"]
    if booked != kept:
        return [
            f"{name}: the journal sums to balance {booked.balance}, held {booked.held}, but it "
            f"holds {kept.balance}, held {kept.held}"
        ]
    return []


def _check_entry(e: CachedEntry, drawn: Decimal) -> list[str]:
    name = f"entry {e.id} (account {e.account_id}, feature {e.feature_id})"
    problems: list[str] = []
    if e.used != e.carried + drawn:
        problems.append(
            f"{name}: used is {e.used} but its draws total {drawn} (carried {e.carried})"
        )
    if e.used < 0 or e.used > e.granted or not 0 <= e.carried <= e.used:
        problems.append(f"{name}: used {e.used} outside carried {e.carried}..granted {e.granted}")
    return problems


async def verify_windows(
    snapshot: AsyncConnection, backend: Backend, only_org: str | None = None
) -> list[str]:
    """Every account on a plan: its draws replayed, in the order they were recorded, against
    the schedules as they stood then. Within each usage window the plan draws (and what was
    drawn from the window's rollover) never exceed the largest allowance a plan in force there
    sold (`domain/windows.window_problems`); and each `plan_usage` figure kept for a window of
    today's schedules is its plan draws' sum."""
    problems: list[str] = []
    for org, account_id in await entitlement_audit.accounts_on_plans(snapshot, only_org):
        problems += await _account_windows(Tx(snapshot, org, backend), account_id)
    return problems


async def _account_windows(tx: Tx, account_id: str) -> list[str]:
    found = plan_view.billing(await schedule_store.account_schedules(tx, account_id))
    changes = await schedule_store.changes_after(tx, account_id, _DAWN)
    drawn = await usage.plan_draws_of(tx, account_id)
    stored = [r for r in await entry_store.account_entries(tx, account_id) if group_of(r.entry.id)]

    def schedules_at(at: datetime) -> list[PlanSchedule]:
        return plan_view.as_they_stood(found, changes, at)

    def granted_in(plans: Sequence[PlanSchedule], feature_id: str, window: Window) -> Decimal:
        by_group: dict[str, Decimal] = {}
        for r in stored:
            if r.feature_id != feature_id:
                continue
            if usage_window(plans, r.entry.effective_from) == window:
                group = group_of(r.entry.id) or ""
                by_group[group] = by_group.get(group, Decimal(0)) + r.entry.granted
        return max(by_group.values(), default=Decimal(0))

    replayed = [
        Drawn(
            d.feature_id,
            rollover_origin(d.entry_id) if rollover_of(d.entry_id) else d.occurred_at,
            d.amount,
            d.recorded_at,
        )
        for d in drawn
    ]
    changed_at = [s.created_at for s in found] + [c.created_at for c in changes]
    name = f"account {account_id} (organization {tx.org_id})"
    problems = [
        f"{name}, feature {excess.feature_id}: the usage window from {excess.window.begins} "
        f"drew {excess.drawn} from plan allowances by {excess.recorded_at}, more than any plan "
        f"in force then sold ({excess.allowed})"
        for excess in window_problems(schedules_at, changed_at, replayed, granted_in)
    ]
    plans = schedules_at(datetime.max.replace(tzinfo=UTC))
    plan_only = [d for d in drawn if not rollover_of(d.entry_id)]
    for row in await usage.usage_rows(tx, account_id):
        key = row.key
        window = usage_window(plans, key.begins)
        if window is None or (window.begins, window.ends) != (key.begins, key.ends):
            continue  # a figure for a window plans have moved since: made again when used
        inside = [d for d in plan_only if d.feature_id == key.feature_id]
        total = sum((d.amount for d in inside if window.holds(d.occurred_at)), Decimal(0))
        if row.used != total:
            problems.append(
                f"{name}, feature {key.feature_id}: the usage kept for the window from "
                f"{key.begins} is {row.used} but its plan draws total {total}"
            )
    return problems
