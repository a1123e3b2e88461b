"""Background expiry: writes the EXPIRED transactions of credits whose window has ended, and
the reversals of feature holds past their limit (marked EXPIRED).

Reads never wait for it (they judge expiry by date); it keeps the ledger itself current.
Several processes may sweep at once: the account row lock makes each expiry happen once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncConnection

from grantledger.service.context import Context, Tenant
from grantledger.service.credits import holds as credit_holds
from grantledger.service.credits.credits import expire_due, lock_account
from grantledger.service.entitlements import hold_expiry
from grantledger.service.notifications import notify
from grantledger.store.credits import credits as store
from grantledger.store.credits import holds as credit_hold_store
from grantledger.store.entitlements import feature_holds
from grantledger.store.tx import Tx

log = logging.getLogger("grantledger.sweeper")
_BATCH = 200


async def sweep_once(ctx: Context) -> int:
    """Expire every due credit; returns how many accounts were swept."""
    swept = 0
    while True:

        async def find(conn: AsyncConnection) -> list[tuple[str, str]]:
            return await store.accounts_with_due_credits(conn, ctx.now().date(), _BATCH)

        due = await ctx.db.run(find)
        for org_id, account_id in due:
            await _expire(ctx.tenant(org_id), account_id)
            swept += 1
        if len(due) < _BATCH:
            await notify.sweep_expiring(ctx)
            return swept + await _sweep_feature_holds(ctx) + await _sweep_credit_holds(ctx)


async def _sweep_feature_holds(ctx: Context) -> int:
    """Mark every feature hold past its limit EXPIRED and write the reversal of its draws (its
    units stopped counting at the limit already); returns how many accounts were swept."""
    swept = 0
    while True:

        async def find(conn: AsyncConnection) -> list[tuple[str, str]]:
            return await feature_holds.accounts_with_due_holds(conn, ctx.now(), _BATCH)

        due = await ctx.db.run(find)
        for org_id, account_id in due:
            await _expire_holds(ctx.tenant(org_id), account_id)
            swept += 1
        if len(due) < _BATCH:
            return swept


async def _expire_holds(tenant: Tenant, account_id: str) -> None:
    async def work(tx: Tx) -> None:
        await lock_account(tx, account_id)
        await hold_expiry.expire_due(tenant, tx, [account_id])

    await tenant.run(work)


async def _expire(tenant: Tenant, account_id: str) -> None:
    async def work(tx: Tx) -> None:
        await lock_account(tx, account_id)
        await expire_due(tenant, tx, account_id)
        await notify.after_change(tenant, tx, account_id)

    await tenant.run(work)


async def run_forever(
    ctx: Context,
    interval_seconds: float,  # float-ok: seconds
    on_success: Callable[[], None] = lambda: None,
) -> None:
    while True:
        try:
            swept = await sweep_once(ctx)
            if swept:
                log.info("sweeper expired credits or feature holds on %d account(s)", swept)
            on_success()  # a metric: the age of the last good sweep is the sweeper's lag
        except asyncio.CancelledError:
            raise
        except Exception:  # the sweeper must outlive a transient database error
            log.exception("sweep failed; retrying next interval")
        await asyncio.sleep(interval_seconds)


async def _sweep_credit_holds(ctx: Context) -> int:
    """Give back the money of credit holds past their time limit (marked EXPIRED)."""
    swept = 0
    while True:

        async def find(conn: AsyncConnection) -> list[tuple[str, str]]:
            return await credit_hold_store.accounts_with_lapsed_holds(conn, ctx.now(), _BATCH)

        due = await ctx.db.run(find)
        for org_id, account_id in due:
            await _release_credit_holds(ctx.tenant(org_id), account_id)
            swept += 1
        if len(due) < _BATCH:
            return swept


async def _release_credit_holds(tenant: Tenant, account_id: str) -> None:
    async def work(tx: Tx) -> None:
        await lock_account(tx, account_id)
        await credit_holds.release_lapsed(tenant, tx, account_id)

    await tenant.run(work)
