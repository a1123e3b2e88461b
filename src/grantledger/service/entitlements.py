"""Reading and adjusting an account's entitlements: feature credits, entries, values."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from grantledger.domain import entitlements as rules
from grantledger.domain.entitlements import Entry, FeatureCredits, PlanType, ValueType
from grantledger.domain.errors import InvalidInput, NotFound
from grantledger.service.catalog import plan_features
from grantledger.service.context import Context
from grantledger.service.grants import change_entry, ensure_cycle_entries
from grantledger.store import entitlements as store
from grantledger.store import parties
from grantledger.store.entitlements import EntryRecord
from grantledger.store.paging import Page
from grantledger.store.tx import Tx

Row = dict[str, Any]


async def _require(
    conn: AsyncConnection, org_id: str, account_id: str, feature_id: str | None
) -> Row | None:
    if await parties.get_account(Tx(conn, org_id), account_id) is None:
        raise NotFound(f"account {account_id} not found")
    if feature_id is None:
        return None
    feature = await store.get_feature(conn, org_id, feature_id)
    if feature is None:
        raise NotFound(f"feature {feature_id} not found")
    return feature


async def feature_credits(
    ctx: Context, org_id: str, account_id: str, feature_id: str, as_of: datetime | None
) -> FeatureCredits:
    now = ctx.now()
    if as_of is not None and as_of > now:
        raise InvalidInput("asOf must not be in the future")

    async def work(conn: AsyncConnection) -> FeatureCredits:
        await _require(conn, org_id, account_id, feature_id)
        await ensure_cycle_entries(ctx, conn, org_id, account_id, feature_ids=[feature_id])
        records = await store.account_entries(conn, org_id, account_id, [feature_id])
        if as_of is None:
            return rules.feature_credits([r.entry for r in records], now)
        entries = await _entries_as_of(conn, org_id, account_id, feature_id, records, as_of)
        return rules.feature_credits(entries, as_of)

    return await ctx.db.run(work)


async def _entries_as_of(
    conn: AsyncConnection,
    org_id: str,
    account_id: str,
    feature_id: str,
    records: list[EntryRecord],
    at: datetime,
) -> list[Entry]:
    """Entries as they stood at `at`: later changes undone, later draws left out."""
    used = await store.draws_until(conn, org_id, account_id, feature_id, at)
    state = {r.entry.id: r.entry for r in records if r.created_at <= at}
    for change in await store.changes_after(conn, org_id, account_id, feature_id, at):
        entry = state.get(change["entry_id"])
        if entry is None:
            continue
        before = change["before"]
        state[entry.id] = replace(
            entry,
            granted=Decimal(before["granted"]),
            effective_until=datetime.fromisoformat(before["effectiveUntil"])
            if before.get("effectiveUntil")
            else None,
            voided=bool(before["voided"]),
        )
    return [replace(e, used=used.get(e.id, Decimal(0))) for e in state.values()]


async def list_entries(
    ctx: Context, org_id: str, account_id: str, feature_id: str, after: str | None, limit: int
) -> Page[EntryRecord]:
    async def work(conn: AsyncConnection) -> Page[EntryRecord]:
        await _require(conn, org_id, account_id, feature_id)
        await ensure_cycle_entries(ctx, conn, org_id, account_id, feature_ids=[feature_id])
        return await store.list_entries(conn, org_id, account_id, feature_id, after, limit)

    return await ctx.db.run(work)


async def _change_entry(
    ctx: Context,
    org_id: str,
    account_id: str,
    feature_id: str,
    entry_id: str,
    kind: str,
    change: Any,
) -> EntryRecord:
    async def work(conn: AsyncConnection) -> EntryRecord:
        await _require(conn, org_id, account_id, feature_id)
        await ensure_cycle_entries(ctx, conn, org_id, account_id, feature_ids=[feature_id])
        record = await store.get_entry(conn, org_id, account_id, feature_id, entry_id, lock=True)
        if record is None:
            raise NotFound(f"entry {entry_id} not found")
        now = ctx.now()
        entry = change(record.entry, now)
        if entry == record.entry:
            return record
        await change_entry(ctx, conn, org_id, record, entry, kind, now)
        return replace(record, entry=entry, updated_at=now)

    return await ctx.db.run(work)


async def patch_entry(
    ctx: Context,
    org_id: str,
    account_id: str,
    feature_id: str,
    entry_id: str,
    effective_until: datetime | None,
    granted: Decimal | None,
) -> EntryRecord:
    def change(entry: Entry, now: datetime) -> Entry:
        return rules.patch(entry, now, effective_until=effective_until, granted=granted)

    return await _change_entry(ctx, org_id, account_id, feature_id, entry_id, "PATCH", change)


async def void_entry(
    ctx: Context, org_id: str, account_id: str, feature_id: str, entry_id: str
) -> EntryRecord:
    return await _change_entry(ctx, org_id, account_id, feature_id, entry_id, "VOID", rules.void)


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


async def _holdings(
    ctx: Context, conn: AsyncConnection, org_id: str, account_id: str
) -> dict[str, Holding]:
    now = ctx.now()
    await ensure_cycle_entries(ctx, conn, org_id, account_id, at=now)
    values: dict[str, str | None] = {}
    for schedule in await store.account_schedules(conn, org_id, account_id):
        if schedule["plan_type"] != PlanType.BILLING.value:
            continue
        begins = rules.midnight(schedule["effective_from"])
        ends = rules.midnight(schedule["effective_until"]) if schedule["effective_until"] else None
        if not (begins <= now and (ends is None or now < ends)):
            continue
        for item in plan_features({"features": schedule["plan_features"]}):
            values[item.feature_id] = item.value
    remaining: dict[str, Decimal] = {}
    for record in await store.account_entries(conn, org_id, account_id, effective_at=now):
        remaining[record.feature_id] = (
            remaining.get(record.feature_id, Decimal(0)) + record.entry.balance
        )
    for feature_id, value in (await store.account_values(conn, org_id, account_id)).items():
        values[feature_id] = value
    held = sorted(set(values) | set(remaining))
    features = await store.get_features(conn, org_id, held)
    return {
        f: Holding(
            feature_id=f,
            value_type=ValueType(features[f]["value_type"]),
            value=values.get(f),
            remaining=remaining.get(f),
        )
        for f in held
        if f in features
    }


async def entitlements(ctx: Context, org_id: str, account_id: str) -> list[Holding]:
    async def work(conn: AsyncConnection) -> list[Holding]:
        await _require(conn, org_id, account_id, None)
        return list((await _holdings(ctx, conn, org_id, account_id)).values())

    return await ctx.db.run(work)


async def entitlement(ctx: Context, org_id: str, account_id: str, feature_id: str) -> Holding:
    async def work(conn: AsyncConnection) -> Holding:
        await _require(conn, org_id, account_id, feature_id)
        holding = (await _holdings(ctx, conn, org_id, account_id)).get(feature_id)
        if holding is None:
            raise NotFound(f"account {account_id} holds no entitlement to feature {feature_id}")
        return holding

    return await ctx.db.run(work)


async def validate(ctx: Context, org_id: str, account_id: str, feature_id: str, asked: str) -> bool:
    async def work(conn: AsyncConnection) -> bool:
        await _require(conn, org_id, account_id, feature_id)
        holding = (await _holdings(ctx, conn, org_id, account_id)).get(feature_id)
        if holding is None:
            return False
        return rules.is_satisfied(holding.value_type, holding.value, asked, holding.remaining)

    return await ctx.db.run(work)


async def set_value(
    ctx: Context, org_id: str, account_id: str, feature_id: str, value: str
) -> Holding:
    async def work(conn: AsyncConnection) -> Holding:
        feature = await _require(conn, org_id, account_id, feature_id)
        assert feature is not None
        rules.check_value(ValueType(feature["value_type"]), feature["allowed_values"], value)
        await store.set_value(conn, org_id, account_id, feature_id, value, ctx.now())
        return (await _holdings(ctx, conn, org_id, account_id))[feature_id]

    return await ctx.db.run(work)
