"""How entries come to exist: plan schedules (one entry per cycle), purchases, direct grants."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import groupby
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from grantledger.domain.entitlements import (
    Cycle,
    CycleWindow,
    Entry,
    EntrySource,
    PlanType,
    add_validity,
    cycle_containing,
    cycles_begun,
    midnight,
    plan_entry_id,
    purchase_entry_id,
)
from grantledger.domain.errors import Conflict, InvalidInput, NotFound
from grantledger.domain.ids import EPOCH
from grantledger.domain.money import check_precision
from grantledger.service.catalog import plan_features
from grantledger.service.context import Context
from grantledger.service.credits import lock_account
from grantledger.service.fingerprint import fingerprint
from grantledger.store import entitlements as store
from grantledger.store import parties
from grantledger.store.entitlements import EntryRecord
from grantledger.store.tx import Tx

Row = dict[str, Any]


def _cycle_entries(
    ctx: Context,
    schedule: Row,
    window: CycleWindow,
    feature_ids: Iterable[str] | None,
    now: datetime,
) -> list[EntryRecord]:
    """The PRICE_PLAN and OVERAGE entries one cycle of a BILLING schedule yields."""
    wanted = set(feature_ids) if feature_ids is not None else None
    created = max(window.begins, schedule["created_at"])
    records: list[EntryRecord] = []
    for item in plan_features({"features": schedule["plan_features"]}):
        if wanted is not None and item.feature_id not in wanted:
            continue
        for source, granted in (
            (EntrySource.PRICE_PLAN, item.credits_per_cycle),
            (EntrySource.OVERAGE, item.overage_per_cycle),
        ):
            if granted is None:
                continue
            records.append(
                EntryRecord(
                    entry=Entry(
                        id=plan_entry_id(schedule["id"], window.start, source),
                        source=source,
                        effective_from=window.begins,
                        effective_until=window.ends,
                        granted=granted,
                    ),
                    account_id=schedule["account_id"],
                    feature_id=item.feature_id,
                    row_key=ctx.new_id("fce", now),
                    idempotency_key=None,
                    request_hash=None,
                    created_at=created,
                    updated_at=now,
                )
            )
    return records


async def ensure_cycle_entries(
    ctx: Context,
    conn: AsyncConnection,
    org_id: str,
    account_id: str,
    *,
    feature_ids: Sequence[str] | None = None,
    at: datetime | None = None,
) -> None:
    """Make the entries of every begun cycle exist (only the cycle at `at`, when given).

    Entries are keyed by schedule and cycle start, so concurrent callers insert each once.
    """
    now = ctx.now()
    wanted: list[EntryRecord] = []
    # Entries are made from the schedules' windows: a plan change (which holds the account row
    # for update while it closes one schedule and opens another) must not commit between this
    # read and the insert, or entries of the old window would outlive the change.
    await parties.share_lock_account(Tx(conn, org_id), account_id)
    for schedule in await store.account_schedules(conn, org_id, account_id):
        if schedule["plan_type"] != PlanType.BILLING.value:
            continue
        cycle = Cycle(schedule["plan_cycle"])
        if at is not None:
            window = cycle_containing(
                schedule["effective_from"], schedule["effective_until"], cycle, at
            )
            windows = [window] if window is not None and window.begins <= now else []
        else:
            windows = cycles_begun(
                schedule["effective_from"], schedule["effective_until"], cycle, now
            )
        for window in windows:
            wanted.extend(_cycle_entries(ctx, schedule, window, feature_ids, now))
    if not wanted:
        return
    existing = {
        (r.feature_id, r.entry.id)
        for r in await store.account_entries(
            conn, org_id, account_id, sorted({w.feature_id for w in wanted})
        )
    }
    missing = [w for w in wanted if (w.feature_id, w.entry.id) not in existing]
    await store.insert_entries(conn, org_id, _keyed_by_cycle(ctx, missing), ignore_existing=True)


def _keyed_by_cycle(ctx: Context, records: list[EntryRecord]) -> list[EntryRecord]:
    """Row keys (the "newest first" order of entry lists) from each cycle's start.

    Cycles are created lazily and out of order (the current one by an event, earlier ones by a
    later read), so creation time would list an old cycle above the current one. Within one
    start, a rank of microseconds keeps the order deterministic (PRICE_PLAN above OVERAGE).
    Ids cannot encode instants before 1970: such cycles share that instant, ranked the same way.
    """

    def start(record: EntryRecord) -> datetime:
        return max(record.entry.effective_from, EPOCH)

    keyed: list[EntryRecord] = []
    for begins, group in groupby(sorted(records, key=lambda r: (start(r), r.entry.id)), start):
        for rank, record in enumerate(group):
            at = begins + timedelta(microseconds=rank)
            keyed.append(replace(record, row_key=ctx.new_id("fce", at)))
    return keyed


async def assign_plan(
    ctx: Context, org_id: str, account_id: str, plan_id: str, start: date, end: date | None
) -> Row:
    """Put an account on a BILLING plan; an open plan schedule closes where this one begins."""
    if end is not None and end <= start:
        raise InvalidInput("effectiveUntil must be after effectiveFrom")

    async def work(conn: AsyncConnection) -> Row:
        await lock_account(Tx(conn, org_id), account_id)
        plan = await store.get_plan(conn, org_id, plan_id)
        if plan is None:
            raise NotFound(f"entitlement plan {plan_id} not found")
        if plan["type"] != PlanType.BILLING.value:
            raise InvalidInput(
                f"plan {plan_id} is a PURCHASE plan; buy it with POST /accounts/{{id}}/purchases"
            )
        now = ctx.now()
        closed: list[tuple[str, date]] = []
        for old in await store.account_schedules(conn, org_id, account_id):
            if old["plan_type"] != PlanType.BILLING.value:
                continue
            if old["effective_until"] is not None and old["effective_until"] <= start:
                continue
            if end is not None and old["effective_from"] >= end:
                continue  # begins after the new schedule ends: no overlap, nothing to close
            close = max(start, old["effective_from"])
            await store.close_schedule(conn, org_id, old["id"], close, now)
            closed.append((old["id"], close))
        # Entries are clipped only once every schedule is closed, so each kind of row is
        # locked once, in one order: account, schedules, entries.
        for schedule_id, close in closed:
            await _clip_schedule_entries(
                ctx, conn, org_id, account_id, schedule_id, midnight(close), now
            )
        schedule = {
            "id": ctx.new_id("sch", now),
            "org_id": org_id,
            "account_id": account_id,
            "plan_id": plan_id,
            "effective_from": start,
            "effective_until": end,
            "created_at": now,
            "updated_at": now,
        }
        await store.insert_schedule(conn, schedule)
        return schedule

    return await ctx.db.run(work)


def _snapshot(entry: Entry) -> Row:
    """What an entry change log row keeps of an entry, so `asOf` reads can undo the change."""
    return {
        "granted": str(entry.granted),
        "effectiveUntil": entry.effective_until.isoformat() if entry.effective_until else None,
        "voided": entry.voided,
    }


async def change_entry(
    ctx: Context,
    conn: AsyncConnection,
    org_id: str,
    record: EntryRecord,
    changed: Entry,
    kind: str,
    now: datetime,
) -> None:
    """Save a changed entry and log the change (PATCH, VOID or CLOSE) for `asOf` reads."""
    await store.save_entry(conn, org_id, record, changed, now)
    await store.insert_change(
        conn,
        {
            "id": ctx.new_id("fcc", now),
            "org_id": org_id,
            "account_id": record.account_id,
            "feature_id": record.feature_id,
            "entry_id": record.entry.id,
            "change": kind,
            "before": _snapshot(record.entry),
            "after": _snapshot(changed),
            "created_at": now,
        },
    )


async def _clip_schedule_entries(
    ctx: Context,
    conn: AsyncConnection,
    org_id: str,
    account_id: str,
    schedule_id: str,
    close: datetime,
    now: datetime,
) -> None:
    """End the closed schedule's materialized entries at the change instant."""
    for record in await store.account_entries(conn, org_id, account_id, lock=True):
        entry = record.entry
        if not entry.id.startswith(schedule_id + "#"):
            continue
        if entry.effective_until is not None and entry.effective_until <= close:
            continue
        # Logged like a PATCH: without it, reads asOf before the change lose the old window.
        changed = replace(entry, effective_until=max(close, entry.effective_from))
        await change_entry(ctx, conn, org_id, record, changed, "CLOSE", now)


async def list_schedules(ctx: Context, org_id: str, account_id: str) -> list[Row]:
    async def work(conn: AsyncConnection) -> list[Row]:
        if await parties.get_account(Tx(conn, org_id), account_id) is None:
            raise NotFound(f"account {account_id} not found")
        return await store.account_schedules(conn, org_id, account_id)

    return await ctx.db.run(work)


@dataclass(frozen=True)
class PurchaseInput:
    plan_id: str
    quantities: dict[str, Decimal]
    idempotency_key: str | None
    effective_from: date | None
    effective_until: date | None

    def fingerprint(self) -> str:
        return fingerprint(
            {
                "planId": self.plan_id,
                "quantities": self.quantities,
                "from": self.effective_from,
                "until": self.effective_until,
            }
        )


async def purchase(ctx: Context, org_id: str, account_id: str, spec: PurchaseInput) -> Row:
    """Buy a PURCHASE plan: one `purchase.…#n$PURCHASE` entry per feature bought."""
    if not spec.quantities:
        raise InvalidInput("rateCardQuantities must name at least one feature")
    if spec.effective_from and spec.effective_until and spec.effective_until <= spec.effective_from:
        raise InvalidInput("effectiveUntil must be after effectiveFrom")
    digest = spec.fingerprint()

    async def work(conn: AsyncConnection) -> Row:
        await lock_account(Tx(conn, org_id), account_id)
        if spec.idempotency_key is not None:
            prior = await store.purchase_by_key(conn, org_id, spec.idempotency_key)
            if prior is not None:
                if prior["request_hash"] != digest or prior["account_id"] != account_id:
                    raise Conflict(
                        f"idempotencyKey {spec.idempotency_key} was already used for a "
                        f"different purchase ({prior['id']})"
                    )
                return prior
        plan = await store.get_plan(conn, org_id, spec.plan_id)
        if plan is None:
            raise NotFound(f"entitlement plan {spec.plan_id} not found")
        if plan["type"] != PlanType.PURCHASE.value:
            raise InvalidInput(f"plan {spec.plan_id} is a BILLING plan; assign it instead")
        items = {f.feature_id: (i, f) for i, f in enumerate(plan_features(plan), start=1)}
        now = ctx.now()
        purchase_id = ctx.new_id("purchase", now)
        begins = midnight(spec.effective_from) if spec.effective_from else now
        records: list[EntryRecord] = []
        for feature_id, quantity in spec.quantities.items():
            found = items.get(feature_id)
            if found is None or found[1].credits_per_cycle is None:
                raise InvalidInput(f"plan {spec.plan_id} sells no credits of feature {feature_id}")
            index, item = found
            assert item.credits_per_cycle is not None
            granted = item.credits_per_cycle * quantity
            check_precision(granted, f"credits of {feature_id}")
            if spec.effective_until is not None:
                ends: datetime | None = midnight(spec.effective_until)
            elif item.validity is not None:
                ends = add_validity(begins, item.validity)
            else:
                ends = None
            records.append(
                EntryRecord(
                    entry=Entry(
                        id=purchase_entry_id(purchase_id, index),
                        source=EntrySource.ENTITLEMENT,
                        effective_from=begins,
                        effective_until=ends,
                        granted=granted,
                    ),
                    account_id=account_id,
                    feature_id=feature_id,
                    row_key=ctx.new_id("fce", now),
                    idempotency_key=None,
                    request_hash=None,
                    created_at=now,
                    updated_at=now,
                )
            )
        row = {
            "id": purchase_id,
            "org_id": org_id,
            "account_id": account_id,
            "plan_id": spec.plan_id,
            "rate_card_quantities": {k: str(v) for k, v in spec.quantities.items()},
            "idempotency_key": spec.idempotency_key,
            "request_hash": digest,
            "effective_from": spec.effective_from,
            "effective_until": spec.effective_until,
            "created_at": now,
        }
        await store.insert_purchase(conn, row)
        await store.insert_entries(conn, org_id, records, ignore_existing=False)
        return row

    return await ctx.db.run(work)


async def get_purchase(ctx: Context, org_id: str, purchase_id: str) -> Row:
    async def work(conn: AsyncConnection) -> Row | None:
        return await store.get_purchase(conn, org_id, purchase_id)

    row = await ctx.db.run(work)
    if row is None:
        raise NotFound(f"purchase {purchase_id} not found")
    return row


@dataclass(frozen=True)
class GrantInput:
    granted: Decimal
    source: EntrySource
    effective_from: datetime | None
    effective_until: datetime | None
    idempotency_key: str | None

    def fingerprint(self, account_id: str, feature_id: str) -> str:
        return fingerprint(
            {
                "account": account_id,
                "feature": feature_id,
                "granted": self.granted,
                "source": self.source.value,
                "from": self.effective_from,
                "until": self.effective_until,
            }
        )


async def grant_entry(
    ctx: Context, org_id: str, account_id: str, feature_id: str, spec: GrantInput
) -> EntryRecord:
    """A direct grant of feature credits (goodwill top-up, REFUND, extra OVERAGE)."""
    if spec.source is EntrySource.PRICE_PLAN:
        raise InvalidInput("PRICE_PLAN entries come from plan schedules; use ENTITLEMENT or REFUND")
    digest = spec.fingerprint(account_id, feature_id)

    async def work(conn: AsyncConnection) -> EntryRecord:
        if await parties.get_account(Tx(conn, org_id), account_id) is None:
            raise NotFound(f"account {account_id} not found")
        if await store.get_feature(conn, org_id, feature_id) is None:
            raise NotFound(f"feature {feature_id} not found")
        if spec.idempotency_key is not None:
            prior = await store.entry_by_key(conn, org_id, spec.idempotency_key)
            if prior is not None:
                if prior.request_hash != digest:
                    raise Conflict(
                        f"idempotencyKey {spec.idempotency_key} was already used for a "
                        f"different grant ({prior.entry.id})"
                    )
                return prior
        now = ctx.now()
        begins = spec.effective_from or now
        if spec.effective_until is not None and spec.effective_until <= begins:
            raise InvalidInput("effectiveUntil must be after effectiveFrom")
        record = EntryRecord(
            entry=Entry(
                id=ctx.new_id("entry", now),
                source=spec.source,
                effective_from=begins,
                effective_until=spec.effective_until,
                granted=spec.granted,
            ),
            account_id=account_id,
            feature_id=feature_id,
            row_key=ctx.new_id("fce", now),
            idempotency_key=spec.idempotency_key,
            request_hash=digest,
            created_at=now,
            updated_at=now,
        )
        await store.insert_entries(conn, org_id, [record], ignore_existing=False)
        return record

    return await ctx.db.run(work)
