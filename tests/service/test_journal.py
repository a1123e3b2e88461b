"""The journal ties out to every credit and entry the use cases leave (issue 22)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal as M
from typing import Any

import sqlalchemy as sa

from grantledger.domain.credits import Line
from grantledger.domain.holds import HoldKind, HoldStatus
from grantledger.domain.journal import START
from grantledger.service.books import journal
from grantledger.service.context import Tenant
from grantledger.service.credits import credits, holds
from grantledger.store.books.journal import JournalFilter, JournalRow
from grantledger.store.tables import credits as credit_rows
from grantledger.store.tables import feature_entries
from grantledger.store.tables import journal as journal_rows
from grantledger.store.tx import Tx
from tests.service.world import GRANT_ACCOUNT, SetClock, build

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


async def _figures(tenant: Tenant) -> tuple[dict[str, tuple[M, M]], dict[str, M]]:
    """Each credit's (balance, held) and each entry's granted - used, as the ledger keeps them."""

    async def work(tx: Tx) -> tuple[dict[str, tuple[M, M]], dict[str, M]]:
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
            r.id: M(0) if r.voided_at is not None else r.granted - r.used
            for r in await tx.conn.execute(sa.select(e).where(e.c.org_id == tx.org_id))
        }
        return money, units

    return await tenant.run(work)


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

        rows = await _all_rows(tenant)
        sums: dict[str, list[M]] = defaultdict(lambda: [M(0), M(0)])
        for row in rows:
            sums[row.subject][0] += row.amount
            sums[row.subject][1] += row.held
            # Each row's figures continue its subject's previous row.
            assert (row.balance_after, row.held_after) == tuple(sums[row.subject])
        money, units = await _figures(tenant)
        for credit_id, (balance, held) in money.items():
            assert sums[credit_id] == [balance, held], credit_id
        for entry_id, left in units.items():
            if entry_id in sums:
                assert sums[entry_id][0] == left, entry_id
        kinds = {row.kind for row in rows}
        assert {"GRANT", "HOLD", "RELEASE", "CAPTURE", "VOID", "DRAW", "EXPIRY"} <= kinds
        assert [r.cursor for r in rows] == sorted(r.cursor for r in rows)
        assert rows[0].cursor > START

    run_on(scenario)
