"""Every PostgreSQL-only statement gives the records of the portable statement it replaces.

`store/pg/__init__.py` lists each portable (SQLAlchemy) statement with its PostgreSQL version.
Here each pair runs over the same rows on PostgreSQL — a world made through the use cases —
with the same arguments, in transactions rolled back, and must give equal records; for the
statements that write, the rows they leave must be equal too. A replacement without a case
here fails `test_every_replaced_statement_has_a_case` by name.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from grantledger.domain.alerts import FEATURE_BALANCE_BELOW
from grantledger.service.context import Context
from grantledger.store.backend import key_of
from grantledger.store.entitlements import entries as entry_store
from grantledger.store.entitlements.gate_records import (
    DrawRecord,
    EventRecord,
    UsedUpdate,
    WatchedBy,
)
from grantledger.store.entitlements.usage import WindowKey, usage_rows
from grantledger.store.migrate import upgrade
from grantledger.store.pg import POSTGRES, REPLACED
from grantledger.store.tables import (
    draws,
    event_ids,
    events,
    feature_entries,
    feature_holds,
    plan_usage,
)
from grantledger.store.tx import Tx
from tests.service.world import (
    FEATURE,
    GRANT_ACCOUNT,
    PLAN_ACCOUNT,
    SetClock,
    World,
    build,
    context,
    new_tenant,
)


@dataclass(frozen=True)
class Case:
    """The arguments after the `Tx`, made from the world; the tables a write leaves to compare."""

    arguments: Callable[[Tx, World], Awaitable[tuple[Any, ...]]]
    tables: tuple[sa.Table, ...] = ()


def _fixed(*arguments: Any) -> Callable[[Tx, World], Awaitable[tuple[Any, ...]]]:
    async def given(tx: Tx, world: World) -> tuple[Any, ...]:
        return arguments

    return given


async def _lock_window(tx: Tx, world: World) -> tuple[Any, ...]:
    now = world.tenant.now()
    accounts = [GRANT_ACCOUNT, PLAN_ACCOUNT, "missing"]
    return accounts, [FEATURE, "nope"], now - timedelta(days=40), now, []


async def _lock_also(tx: Tx, world: World) -> tuple[Any, ...]:
    now = world.tenant.now()
    held = await entry_store.account_entries(tx, GRANT_ACCOUNT, [FEATURE])
    # A window that holds nothing, and the entries named.
    far = now - timedelta(days=300)
    return [GRANT_ACCOUNT, PLAN_ACCOUNT], [FEATURE], far, far, [held[0].entry.id, "missing"]


async def _present(tx: Tx, world: World) -> tuple[Any, ...]:
    held = await entry_store.account_entries(tx, PLAN_ACCOUNT, [FEATURE])
    held += await entry_store.account_entries(tx, GRANT_ACCOUNT, [FEATURE])
    ids = sorted({r.entry.id for r in held} | {"not-an-entry"})
    return [GRANT_ACCOUNT, PLAN_ACCOUNT], ids


async def _claim(tx: Tx, world: World) -> tuple[Any, ...]:
    now = world.tenant.now()
    # ev-1 was claimed moments ago (kept); ev-new is new; a stale cut-off after now reclaims.
    return ["ev-1", "ev-new"], now, now - timedelta(days=45)


async def _reclaim(tx: Tx, world: World) -> tuple[Any, ...]:
    now = world.tenant.now()
    return ["ev-1", "ev-2", "ev-new"], now + timedelta(seconds=1), now + timedelta(seconds=1)


async def _record(tx: Tx, world: World) -> tuple[Any, ...]:
    now = world.tenant.now()
    [entry] = await entry_store.account_entries(tx, GRANT_ACCOUNT, [FEATURE])
    received = [
        EventRecord(
            "evt.pk-a",
            "ev-a",
            GRANT_ACCOUNT,
            "calls",
            now,
            True,
            None,
            {"n": Decimal("1.50"), "nested": {"x": [1, "two"]}},
            now,
        ),
        EventRecord("evt.pk-b", "ev-b", PLAN_ACCOUNT, "calls", now, False, "too much", {}, now),
    ]
    entry_id, amount = entry.entry.id, Decimal("2.25")
    used = [UsedUpdate(GRANT_ACCOUNT, FEATURE, entry_id, entry.entry.used + 2 * amount)]
    drawn = [
        DrawRecord("evt.pk-a", 0, GRANT_ACCOUNT, FEATURE, entry_id, amount, now, now, False),
        DrawRecord("evt.pk-a", 1, GRANT_ACCOUNT, FEATURE, entry_id, amount, now, now, True),
    ]
    watching = WatchedBy([GRANT_ACCOUNT, PLAN_ACCOUNT], [FEATURE_BALANCE_BELOW])
    return received, used, drawn, now, watching


async def _debits(tx: Tx, world: World) -> tuple[Any, ...]:
    return world.credit_id, world.tenant.now() - timedelta(seconds=1)


async def _draws(tx: Tx, world: World) -> tuple[Any, ...]:
    return PLAN_ACCOUNT, FEATURE, world.tenant.now() - timedelta(minutes=30)


async def _window(tx: Tx, world: World) -> tuple[Any, ...]:
    begins = datetime(world.month_start.year, world.month_start.month, 1, tzinfo=UTC)
    return (WindowKey(PLAN_ACCOUNT, FEATURE, begins, None),)


async def _window_recorded_after(tx: Tx, world: World) -> tuple[Any, ...]:
    (key,) = await _window(tx, world)
    return key, world.tenant.now() - timedelta(minutes=30)


async def _usage_keys(tx: Tx, world: World) -> tuple[Any, ...]:
    rows = await usage_rows(tx, PLAN_ACCOUNT)
    assert rows, "the world's plan account has a usage figure"
    missing = WindowKey(PLAN_ACCOUNT, FEATURE, datetime(2000, 1, 1, tzinfo=UTC), None)
    return (sorted([*(r.key for r in rows), missing]),)


async def _usage_saved(tx: Tx, world: World) -> tuple[Any, ...]:
    rows = await usage_rows(tx, PLAN_ACCOUNT)
    return {r.key: r.used + Decimal("1.25") for r in rows}, world.tenant.now()


# Keyed by the portable statement's key (`store/backend.key_of`).
def _lapsed(after: timedelta) -> Callable[[Tx, World], Awaitable[tuple[Any, ...]]]:
    """A feature hold of an hour on GRANT_ACCOUNT (in the case's transaction, rolled back),
    asked about `after` it was placed."""

    async def given(tx: Tx, world: World) -> tuple[Any, ...]:
        now = world.tenant.now()
        await tx.conn.execute(
            feature_holds.insert().values(
                org_id=tx.org_id,
                pk="fhold-1",
                account_id=GRANT_ACCOUNT,
                hold_id="fh-1",
                status="HELD",
                units={FEATURE: "2"},
                request_hash="x",
                event_pk="evt-none",
                created_at=now,
                expires_at=now + timedelta(hours=1),
            )
        )
        return sorted([GRANT_ACCOUNT, PLAN_ACCOUNT, "missing"]), now + after

    return given


CASES: dict[str, list[Case]] = {
    "grantledger.store.entitlements.gate.gate_inputs": [
        Case(_fixed(["calls", "unknown"], [PLAN_ACCOUNT, GRANT_ACCOUNT, "missing"])),
        Case(_fixed([], [PLAN_ACCOUNT])),
    ],
    "grantledger.store.entitlements.gate.claim_sorted": [
        Case(_claim, (event_ids,)),
        Case(_reclaim, (event_ids,)),
    ],
    "grantledger.store.entitlements.gate.prior_of_sorted": [
        Case(_fixed(["ev-1", "ev-3", "ev-unknown"])),
    ],
    "grantledger.store.entitlements.gate.lock_sorted": [Case(_lock_window), Case(_lock_also)],
    "grantledger.store.entitlements.gate.record_batch": [
        Case(_record, (events, draws, feature_entries)),
    ],
    "grantledger.store.parties.parties.share_lock_sorted": [
        Case(_fixed([GRANT_ACCOUNT, PLAN_ACCOUNT, "missing"])),
    ],
    "grantledger.store.entitlements.schedules.schedules_of": [
        Case(_fixed([PLAN_ACCOUNT, GRANT_ACCOUNT, "missing"])),
    ],
    "grantledger.store.entitlements.entries.present_sorted": [Case(_present)],
    "grantledger.store.entitlements.feature_holds.lapsed_accounts": [
        Case(_lapsed(timedelta(hours=2))),
        Case(_lapsed(timedelta(minutes=1))),
        Case(_fixed([], datetime(2026, 1, 1, tzinfo=UTC))),
    ],
    "grantledger.store.notifications.alerts.active_alerts_of": [
        Case(_fixed([PLAN_ACCOUNT], [FEATURE_BALANCE_BELOW])),
        Case(_fixed([GRANT_ACCOUNT, PLAN_ACCOUNT], [FEATURE_BALANCE_BELOW, "other"])),
        Case(_fixed([], [FEATURE_BALANCE_BELOW])),
    ],
    "grantledger.store.entitlements.history.draws_after": [Case(_draws)],
    "grantledger.store.credits.credit_transactions.debits_around": [Case(_debits)],
    "grantledger.store.entitlements.usage.locked_rows": [Case(_usage_keys)],
    "grantledger.store.entitlements.usage.save_usage": [Case(_usage_saved, (plan_usage,))],
    "grantledger.store.entitlements.usage.plan_drawn": [
        Case(_window),
        Case(_window_recorded_after),
    ],
}


def test_every_replaced_statement_has_a_case() -> None:
    assert sorted(key_of(p.portable) for p, _ in REPLACED) == sorted(CASES)
    assert set(POSTGRES.replacements) == set(CASES)


class _RollBack(Exception):
    """Ends a transaction whose writes must not stay."""


async def _rows(conn: AsyncConnection, table: sa.Table, org_id: str) -> list[dict[str, Any]]:
    query = sa.select(table).where(table.c.org_id == org_id)
    return sorted(
        (dict(r._mapping) for r in await conn.execute(query)), key=lambda r: repr(sorted(r.items()))
    )


async def _once(ctx: Context, world: World, case: Case, statement: Any) -> tuple[Any, Any]:
    """`statement`'s records and the rows it leaves, in a transaction then rolled back."""
    org_id = world.tenant.org_id
    seen: list[tuple[Any, Any]] = []

    async def work(conn: AsyncConnection) -> None:
        tx = ctx.db.tx(conn, org_id)
        records = await statement(tx, *await case.arguments(tx, world))
        seen.append((records, [await _rows(conn, t, org_id) for t in case.tables]))
        raise _RollBack

    with pytest.raises(_RollBack):
        await ctx.db.run(work)
    return seen[0]


@pytest.fixture(scope="module")
def outcomes(pg_url: str) -> dict[str, list[tuple[Any, Any]]]:
    """For each case: (portable's records and rows, replacement's records and rows)."""
    found: dict[str, list[tuple[Any, Any]]] = {}
    upgrade(pg_url)

    async def gather() -> None:
        clock = SetClock(datetime.now().astimezone())
        async with context(pg_url, clock) as ctx:
            assert ctx.db.backend is POSTGRES
            world = await build(await new_tenant(ctx, "differential"))
            for portable, replacement in REPLACED:
                for case in CASES.get(key_of(portable.portable), []):
                    pair = [
                        await _once(ctx, world, case, s) for s in (portable.portable, replacement)
                    ]
                    found.setdefault(key_of(portable.portable), []).append((pair[0], pair[1]))

    asyncio.run(gather())
    return found


@pytest.mark.postgres_only
@pytest.mark.parametrize("key", sorted(CASES))
def test_the_postgresql_statement_gives_the_portable_records(
    outcomes: dict[str, list[tuple[Any, Any]]], key: str
) -> None:
    assert len(outcomes[key]) == len(CASES[key])
    for portable, replacement in outcomes[key]:
        assert replacement == portable
