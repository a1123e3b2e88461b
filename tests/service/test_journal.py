"""The journal ties out to every credit and entry the use cases leave (issue 22)."""

from __future__ import annotations

import asyncio
import secrets
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal as M
from typing import Any

import pytest
import sqlalchemy as sa

from grantledger.domain.credits import Line
from grantledger.domain.cycles import Cycle
from grantledger.domain.entitlements import PlanType, ValueType
from grantledger.domain.holds import HoldKind, HoldStatus
from grantledger.domain.journal import START, JournalKind
from grantledger.domain.plans import PlanFeature
from grantledger.service.books import journal
from grantledger.service.context import Tenant
from grantledger.service.credits import credits, holds
from grantledger.service.entitlements import catalog, schedules
from grantledger.service.parties import parties
from grantledger.store.books.journal import (
    EntryMove,
    JournalFilter,
    JournalRow,
    append_entry_moves,
)
from grantledger.store.tables import credits as credit_rows
from grantledger.store.tables import feature_entries
from grantledger.store.tables import journal as journal_rows
from grantledger.store.tx import Tx
from tests.service.world import (
    FEATURE,
    GRANT_ACCOUNT,
    SCHEMA,
    SetClock,
    build,
    context,
    event,
    judge,
    new_tenant,
)

Run = Callable[[Any], Any]


async def _all_rows(tenant: Tenant) -> list[JournalRow]:
    """Every row, once the transactions that wrote them are settled: on PostgreSQL a reader
    sees a row when no transaction older than its writer is still running on the server (the
    shared test server's other sessions included), so it may take a few polls."""

    async def count(tx: Tx) -> int:
        query = sa.select(sa.func.count()).where(journal_rows.c.org_id == tx.org_id)
        return int((await tx.conn.execute(query)).scalar_one())

    written = await tenant.run(count)
    for _ in range(600):
        rows = [row async for row in journal.every_row(tenant, JournalFilter(), None)]
        if len(rows) == written:
            return rows
        await asyncio.sleep(0.05)
    raise AssertionError(f"{written} rows written, {len(rows)} settled after 30 s")


Units = dict[tuple[str, str, str], M]


async def _figures(tenant: Tenant) -> tuple[dict[str, tuple[M, M]], Units]:
    """Each credit's (balance, held) and each entry's granted - used, as the ledger keeps them."""

    async def work(tx: Tx) -> tuple[dict[str, tuple[M, M]], Units]:
        c = credit_rows
        money = {
            r.id: (
                r.credit_amount - r.consumed_amount - r.expired_amount - r.voided_amount,
                r.hold_amount,
            )
            for r in await tx.conn.execute(sa.select(c).where(c.c.org_id == tx.org_id))
        }
        e = feature_entries
        units = {
            (r.account_id, r.feature_id, r.id): M(0)
            if r.voided_at is not None
            else r.granted - r.used
            for r in await tx.conn.execute(sa.select(e).where(e.c.org_id == tx.org_id))
        }
        return money, units

    return await tenant.run(work)


async def _two_features_on_one_plan(tenant: Tenant) -> None:
    """A plan of two features: each cycle's entries of both share their ids."""
    await parties.create_account(
        tenant, "cust-1", parties.NewAccount("acc-3", "Two features", "USD", "ACTIVE", {})
    )
    await catalog.create_feature(
        tenant,
        catalog.FeatureInput(
            "f2", "Feature two", None, [(SCHEMA, "units")], ValueType.NUMERIC, None
        ),
    )
    await catalog.create_plan(
        tenant,
        catalog.PlanInput(
            "two",
            "Two",
            PlanType.BILLING,
            Cycle.MONTHLY,
            [
                PlanFeature(FEATURE, None, M(100), M(20), None),
                PlanFeature("f2", None, M(10), M(0), None),
            ],
        ),
    )
    start = tenant.now().date().replace(day=1)
    await schedules.assign_plan(tenant, "acc-3", schedules.AssignInput("two", start, None))
    assert await judge(tenant, event("ev-two", "acc-3", "4", tenant.now())) == "accepted"


def test_the_journal_ties_out_to_every_credit_and_entry(run_on: Run, clock: SetClock) -> None:
    async def scenario(tenant: Tenant) -> None:
        world = await build(tenant)
        until = world.month_start + timedelta(days=40)
        [_paid, promo] = await credits.grant(
            tenant,
            [
                credits.GrantRequest(
                    GRANT_ACCOUNT, "Paid", world.month_start, until, M("40.125"), 1
                ),
                credits.GrantRequest(GRANT_ACCOUNT, "Promo", world.month_start, until, M("9"), 2),
            ],
        )

        async def hold(invoice: str, amount: str) -> None:
            line = (Line("api", None, M(amount)),)
            await holds.place(
                tenant, holds.HoldPlacement(GRANT_ACCOUNT, invoice, line, HoldKind.HOLD)
            )

        await hold("inv-r", "3.5")
        await holds.settle(tenant, GRANT_ACCOUNT, "inv-r", HoldStatus.RELEASED)
        await hold("inv-c", "30")
        await holds.settle(tenant, GRANT_ACCOUNT, "inv-c", HoldStatus.CAPTURED)
        await hold("inv-o", "1")  # left open
        await credits.void(tenant, promo.id)
        clock.advance(timedelta(days=60))  # past the credits' end: the expiry is written
        await credits.list_credits(
            tenant, status=None, account_id=None, credit_id=None, after=None, limit=50
        )

        await _two_features_on_one_plan(tenant)

        rows = await _all_rows(tenant)
        sums: dict[tuple[str, str | None, str], list[M]] = defaultdict(lambda: [M(0), M(0)])
        for row in rows:
            key = (row.account_id, row.feature_id, row.subject)
            sums[key][0] += row.amount
            sums[key][1] += row.held
            # Each row's figures continue its subject's previous row.
            assert (row.balance_after, row.held_after) == tuple(sums[key])
        money, units = await _figures(tenant)
        by_credit = {subject: v for (_, feature, subject), v in sums.items() if feature is None}
        for credit_id, (balance, held) in money.items():
            assert by_credit[credit_id] == [balance, held], credit_id
        for key, left in units.items():
            assert sums[key][0] == left, key
        shared = [k for k in units if k[0] == "acc-3"]
        assert len(shared) == 4 and len({k[2] for k in shared}) == 2  # ids shared by features
        kinds = {row.kind for row in rows}
        assert {"GRANT", "HOLD", "RELEASE", "CAPTURE", "VOID", "DRAW", "EXPIRY"} <= kinds
        assert [r.cursor for r in rows] == sorted(r.cursor for r in rows)
        assert rows[0].cursor > START

    run_on(scenario)


def test_a_row_is_handed_out_only_when_no_older_transaction_can_still_commit(
    module_postgres: str | None, clock: SetClock
) -> None:
    """The gap a sequence-ordered read has, closed: T1 writes first and commits last; until it
    commits, the read hands out neither its row nor T2's (committed, numbered after it)."""
    if module_postgres is None:
        pytest.skip("PostgreSQL unreachable")

    async def scenario() -> None:
        async with context(module_postgres, clock) as ctx:
            tenant = await new_tenant(ctx, "org-" + secrets.token_hex(4))
            db = ctx.db

            def move(entry: str) -> list[EntryMove]:
                return [EntryMove("acc", "f", entry, JournalKind.DRAW, M(-1), clock.now())]

            async with db.engine.connect() as first, db.engine.connect() as second:
                await first.begin()
                await append_entry_moves(db.tx(first, tenant.org_id), move("e1"), clock.now())
                await second.begin()
                await append_entry_moves(db.tx(second, tenant.org_id), move("e2"), clock.now())
                await second.commit()
                committed = await journal.page(tenant, JournalFilter(), None, 50)
                assert committed.rows == [] and committed.cursor == START
                await first.commit()
            rows = await _all_rows(tenant)
            assert [r.subject for r in rows] == ["e1", "e2"]
            assert rows[0].cursor < rows[1].cursor

    asyncio.run(scenario())
