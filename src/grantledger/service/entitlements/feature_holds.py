"""Feature holds: reserve units atomically with the gate, then settle, release or let expire.

A hold is a hold event judged by the gate's rules (`gate_batch.decide`, all or nothing) whose
draws reserve its units: every read that counts draws sees them. Settling appends the reversal
of those draws and records what was really used as a settlement event (drawn where covered,
the rest a shortfall, never refused); releasing and expiring append the reversal alone. Each is
one transaction under the account lock, and the hold row only leaves HELD once (its update is
conditional), so settle, release and expiry happen once whatever races between them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from grantledger.domain.corrections import Source
from grantledger.domain.errors import Conflict, NotFound
from grantledger.domain.feature_holds import (
    FeatureHoldStatus,
    refuse_closed,
    settlement_of,
    status_at,
)
from grantledger.domain.passthrough import JsonObject
from grantledger.service.context import Tenant
from grantledger.service.credits.credits import lock_account
from grantledger.service.entitlements import gate_batch, hold_expiry
from grantledger.service.entitlements.event_input import EventInput
from grantledger.service.entitlements.hold_expiry import RELEASED, SETTLED
from grantledger.service.fingerprint import fingerprint
from grantledger.service.idempotency import replay_of
from grantledger.service.notifications import notify
from grantledger.store.entitlements import feature_holds as store
from grantledger.store.entitlements.feature_holds import FeatureHoldRecord, units_json
from grantledger.store.paging import Page
from grantledger.store.parties import parties
from grantledger.store.tx import Tx


@dataclass(frozen=True)
class HoldPlacement:
    account_id: str
    hold_id: str
    units: dict[str, Decimal]
    expires_in: timedelta

    def fingerprint(self) -> str:
        return fingerprint(
            {"units": units_json(self.units), "expiresIn": str(self.expires_in.total_seconds())}
        )


@dataclass(frozen=True)
class FeatureHoldView:
    """A hold and the status it shows at the instant it was read."""

    hold: FeatureHoldRecord
    status: FeatureHoldStatus


def _view(hold: FeatureHoldRecord, now: datetime) -> FeatureHoldView:
    return FeatureHoldView(hold, status_at(hold.status, hold.expires_at, now))


async def place(tenant: Tenant, request: HoldPlacement) -> FeatureHoldView:
    """Hold every feature's units or none (403 naming the first not covered)."""
    digest = request.fingerprint()

    async def work(tx: Tx) -> FeatureHoldView:
        await lock_account(tx, request.account_id)
        now = tenant.now()
        prior = await replay_of(
            request.hold_id,
            lambda key: store.get_hold(tx, request.account_id, key),
            digest,
            lambda p: (
                f"feature hold {p.hold_id} already exists on account {p.account_id} with "
                "different features, units or expiresIn; use a new id for a new hold"
            ),
        )
        if prior is not None:
            return _view(prior, now)
        await hold_expiry.expire_due(tenant, tx, [request.account_id])
        event = EventInput(
            schema_name="",
            id=request.hold_id,
            timestamp=now,
            account_id=request.account_id,
            attributes=(),
            payload=_payload(Source.HOLD, request.hold_id, request.account_id, now, request.units),
        )
        received = gate_batch.Received(
            event, request.hold_id, {}, Source.HOLD, quantities=request.units
        )
        [outcome] = await gate_batch.decide(tenant, tx, [received], claim=False)
        if outcome.error is not None:
            raise outcome.error  # the transaction rolls back: nothing is held or recorded
        assert outcome.reference is not None
        hold = FeatureHoldRecord(
            pk=tenant.new_id("fhold", now),
            account_id=request.account_id,
            hold_id=request.hold_id,
            status=FeatureHoldStatus.HELD,
            units=dict(request.units),
            settled=None,
            shortfall=None,
            request_hash=digest,
            event_pk=outcome.reference,
            settle_event_pk=None,
            created_at=now,
            expires_at=now + request.expires_in,
            closed_at=None,
        )
        await store.insert_hold(tx, hold)
        return _view(hold, now)

    return await tenant.run(work)


async def settle(
    tenant: Tenant, account_id: str, hold_id: str, actual: Mapping[str, Decimal]
) -> FeatureHoldView:
    """Give the held units back and draw what was really used, at the hold's instant: the
    same entries first, units beyond the hold where covered, the rest a recorded shortfall."""

    async def work(tx: Tx) -> FeatureHoldView:
        hold = await _locked(tx, account_id, hold_id)
        now = tenant.now()
        used = settlement_of(hold.units, actual)
        shown = status_at(hold.status, hold.expires_at, now)
        if shown is FeatureHoldStatus.SETTLED and hold.settled == used:
            return _view(hold, now)  # the same settlement again: its answer
        if shown is FeatureHoldStatus.SETTLED:
            raise Conflict(
                f"feature hold {hold_id} was already settled with other units "
                f"({_shown_units(hold.settled or {})})"
            )
        refuse_closed(hold_id, shown, "settled")
        await hold_expiry.give_back(tenant, tx, hold, SETTLED, now)
        event = EventInput(
            schema_name="",
            id=hold.hold_id,
            timestamp=hold.created_at,
            account_id=account_id,
            attributes=(),
            payload=_payload(Source.SETTLE, hold.hold_id, account_id, hold.created_at, used),
        )
        received = gate_batch.Received(event, hold.hold_id, {}, Source.SETTLE, quantities=used)
        [outcome] = await gate_batch.decide(tenant, tx, [received], claim=False)
        if outcome.error is not None:  # pragma: no cover - recording never refuses
            raise outcome.error
        await _close(
            tx,
            hold,
            FeatureHoldStatus.SETTLED,
            now,
            settled=used,
            shortfall=outcome.shortfall,
            settle_event_pk=outcome.reference,
        )
        settled = await _reread(tx, hold, now)
        if outcome.shortfall:
            await notify.after_change(tenant, tx, holds=[("feature_hold.shortfall", settled.hold)])
        return settled

    return await tenant.run(work)


async def release(tenant: Tenant, account_id: str, hold_id: str) -> FeatureHoldView:
    """Give every held unit back. Releasing a released hold answers it again."""

    async def work(tx: Tx) -> FeatureHoldView:
        hold = await _locked(tx, account_id, hold_id)
        now = tenant.now()
        shown = status_at(hold.status, hold.expires_at, now)
        if shown is FeatureHoldStatus.RELEASED:
            return _view(hold, now)
        refuse_closed(hold_id, shown, "released")
        await hold_expiry.give_back(tenant, tx, hold, RELEASED, now)
        await _close(tx, hold, FeatureHoldStatus.RELEASED, now)
        return await _reread(tx, hold, now)

    return await tenant.run(work)


async def get_hold(tenant: Tenant, account_id: str, hold_id: str) -> FeatureHoldView:
    async def work(tx: Tx) -> FeatureHoldRecord | None:
        return await store.get_hold(tx, account_id, hold_id)

    hold = await tenant.found(work, f"feature hold {hold_id} of account {account_id} not found")
    return _view(hold, tenant.now())


async def list_holds(
    tenant: Tenant,
    account_id: str,
    statuses: Sequence[FeatureHoldStatus] | None,
    after: str | None,
    limit: int,
) -> tuple[list[FeatureHoldView], str | None]:
    now = tenant.now()

    async def work(tx: Tx) -> Page[FeatureHoldRecord] | None:
        if await parties.get_account(tx, account_id) is None:
            return None
        return await store.list_holds(tx, account_id, statuses, now, after, limit)

    page = await tenant.found(work, f"account {account_id} not found")
    return [_view(h, now) for h in page.items], page.last_key


async def _locked(tx: Tx, account_id: str, hold_id: str) -> FeatureHoldRecord:
    """The account locked (every ledger write of it queues there), then the hold row."""
    await lock_account(tx, account_id)
    hold = await store.get_hold(tx, account_id, hold_id, lock=True)
    if hold is None:
        raise NotFound(f"feature hold {hold_id} of account {account_id} not found")
    return hold


async def _close(
    tx: Tx,
    hold: FeatureHoldRecord,
    status: FeatureHoldStatus,
    at: datetime,
    *,
    settled: Mapping[str, Decimal] | None = None,
    shortfall: Mapping[str, Decimal] | None = None,
    settle_event_pk: str | None = None,
) -> None:
    closed = await store.close_hold(
        tx,
        hold,
        status,
        at,
        settled=settled,
        shortfall=shortfall,
        settle_event_pk=settle_event_pk,
    )
    if not closed:  # pragma: no cover - the hold row is locked and was HELD
        raise Conflict(f"feature hold {hold.hold_id} was closed by another request")


async def _reread(tx: Tx, hold: FeatureHoldRecord, now: datetime) -> FeatureHoldView:
    after = await store.get_hold(tx, hold.account_id, hold.hold_id)
    assert after is not None
    return _view(after, now)


def _payload(
    source: Source, hold_id: str, account_id: str, at: datetime, units: Mapping[str, Decimal]
) -> JsonObject:
    """What the hold and settlement events show as their payload: a Togai Event (the events
    list's `eventPayload`, which the official client parses as one) whose schema names the
    door, one attribute per feature (its units as exact text) and the hold id as a dimension."""
    return {
        "schemaName": source.value,
        "id": hold_id,
        "timestamp": at.isoformat(),
        "accountId": account_id,
        "attributes": [{"name": f, "value": u} for f, u in units_json(units).items()],
        "dimensions": {"holdId": hold_id},
    }


def _shown_units(units: Mapping[str, Decimal]) -> str:
    return ", ".join(f"{f} {u}" for f, u in units_json(units).items())
