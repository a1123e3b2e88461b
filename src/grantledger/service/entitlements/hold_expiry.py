"""Holds past their limit: their units given back by the first write that meets them.

A hold stops counting at its `expiresAt`. Reads give its units back themselves
(`plan_view.lapsed_holds`); the first write of the account after that instant — the gate, a new
hold, the sweeper — appends the reversal of its draws, dated at the limit, and marks it EXPIRED.
Also the one way a hold's units go back (settle, release, expiry): `give_back`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from grantledger.domain.errors import Conflict, NotFound
from grantledger.domain.feature_holds import FeatureHoldStatus
from grantledger.service.context import Tenant
from grantledger.service.credits.credits import lock_account
from grantledger.service.entitlements import reversing
from grantledger.service.notifications import notify
from grantledger.store.entitlements import event_log
from grantledger.store.entitlements import feature_holds as store
from grantledger.store.entitlements.feature_holds import FeatureHoldRecord
from grantledger.store.tx import Tx

# What a hold event's correction row says happened to it (event_corrections.action).
SETTLED, RELEASED, EXPIRED = "HOLD_SETTLED", "HOLD_RELEASED", "HOLD_EXPIRED"


async def expire_lapsed(tenant: Tenant, tx: Tx, account_ids: Sequence[str]) -> int:
    """The gate's step before it locks entries: when any of the accounts has a hold past its
    limit (one indexed read, usually empty), lock those accounts in order and expire them."""
    due = await store.due_holds(tx, account_ids, tenant.now())
    accounts = sorted({h.account_id for h in due})
    for account_id in accounts:
        await lock_account(tx, account_id)
    return await expire_due(tenant, tx, accounts) if accounts else 0


async def expire_due(tenant: Tenant, tx: Tx, account_ids: Sequence[str]) -> int:
    """Give back the units of the accounts' holds past their limit and mark them EXPIRED;
    the caller holds the accounts' locks. Their reversals are dated at the limit, when the
    units stopped counting. How many were expired."""
    now = tenant.now()
    due = await store.due_holds(tx, account_ids, now)
    for hold in due:
        await give_back(tenant, tx, hold, EXPIRED, now, dated=hold.expires_at)
        if not await store.close_hold(tx, hold, FeatureHoldStatus.EXPIRED, hold.expires_at):
            raise Conflict(f"feature hold {hold.hold_id} was closed by another request")
        closed = await store.get_hold(tx, hold.account_id, hold.hold_id)
        assert closed is not None
        await notify.after_change(tenant, tx, holds=[("feature_hold.expired", closed)])
    return len(due)


async def give_back(
    tenant: Tenant,
    tx: Tx,
    hold: FeatureHoldRecord,
    action: str,
    now: datetime,
    *,
    dated: datetime | None = None,
) -> None:
    """Append the reversal of the hold event's draws (once: its correction row is claimed)."""
    event = await event_log.get_event(tx, hold.event_pk)
    if event is None:  # pragma: no cover - a hold's event is never deleted
        raise NotFound(f"the event of feature hold {hold.hold_id} is missing")
    drawn = await reversing.lock_drawn(tx, event)
    windows = await reversing.lock_windows(tx, event, now)
    if not await event_log.claim_correction(tx, event.pk, action, None, now):
        raise Conflict(f"feature hold {hold.hold_id} was closed by another request; read it again")
    await reversing.reverse(tx, event, drawn, windows, now, dated=dated)
    await notify.after_change(
        tenant, tx, features={(hold.account_id, line.feature_id) for line in event.draws}
    )
