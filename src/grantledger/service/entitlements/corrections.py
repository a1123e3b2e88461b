"""Taking usage back: UNDO, REDO and REDO_EVENT of a judged event, as appended reversals.

One transaction each, all or nothing. The account is locked first, then the entries the event
drew from and the usage figures of their windows (docs/design.md, lock order), and only then
is the correction dated (so it is recorded after whatever held those rows before); the event is
marked corrected under its primary key, so concurrent corrections of one event (in any number
of processes) revert it once. A REDO judges the event again in the same transaction, under the
id it already holds; if that judgement refuses, nothing at all changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from grantledger.domain.corrections import PAST_CYCLE, Action, Outcome, Source, past_grace
from grantledger.domain.errors import InvalidInput, LedgerError, NotFound
from grantledger.domain.gate import named_attributes
from grantledger.service.context import Tenant
from grantledger.service.credits.credits import lock_account
from grantledger.service.entitlements import gate_batch, reversing
from grantledger.service.entitlements.event_input import EventInput
from grantledger.service.notifications import notify
from grantledger.store.entitlements import event_log
from grantledger.store.entitlements.event_log import EventLogRecord
from grantledger.store.tx import Tx


@dataclass(frozen=True)
class Corrected:
    """A correction's answer: the event named, as it stands after; what happened and why; and
    the new judgement of a REDO."""

    event: EventLogRecord
    outcome: Outcome
    reason: str
    replacement: EventLogRecord | None = None


class _Failed(Exception):
    """Ends the correction's transaction with nothing changed, answering FAILED."""

    def __init__(self, event: EventLogRecord, reason: str) -> None:
        super().__init__(reason)
        self.event = event
        self.reason = reason


async def correct(
    tenant: Tenant,
    action: Action,
    named: EventInput,
    grace: timedelta,
    actor: str | None = None,
    reference: str | None = None,
) -> Corrected:
    """Correct the account's latest judgement of the event id `named` carries.

    `reference` (the console's) names the judgement the caller saw: if another correction
    has replaced it meanwhile, nothing is done (FAILED), so a confirmed undo of one judgement
    never undoes the judgement that replaced it.
    """
    if named.id is None:
        raise InvalidInput("event.id is required: it names the event to correct")
    event_id = named.id

    async def work(tx: Tx) -> Corrected:
        await lock_account(tx, named.account_id)
        event = await event_log.latest_of(tx, named.account_id, event_id)
        if event is None:
            raise NotFound(f"event {event_id} of account {named.account_id} not found")
        if event.reverted:
            raise _Failed(event, f"event {event_id} was already reverted")
        if reference is not None and event.pk != reference:
            seen = await event_log.get_event(tx, reference)
            raise _Failed(
                seen or event,
                f"event {event_id} was already reverted: {reference} was replaced by {event.pk}",
            )
        if action is not Action.UNDO and event.source == Source.SETTLE.value:
            raise _Failed(
                event,
                f"event {event_id} settles a feature hold: it can be undone (UNDO), not judged "
                "again; place and settle a new hold for new usage",
            )
        if action is Action.REDO_EVENT:
            _same_event(event, named)
        drawn = await reversing.lock_drawn(tx, event)
        windows = await reversing.lock_windows(tx, event, tenant.now())
        # Dated once every row it changes is locked, as the gate dates its draws: whatever
        # wrote those rows before has committed, so the reversals are recorded after it, and
        # units given back are never recorded as drawn again before they were given back.
        now = tenant.now()
        if past_grace([r.entry for r in drawn.values()], now, grace):
            raise _Failed(event, PAST_CYCLE)
        # The column holds 100 characters; an actor names a key, which a longer name
        # would not make clearer.
        who = actor[:100] if actor is not None else None
        if not await event_log.claim_correction(tx, event.pk, action.value, who, now):
            raise _Failed(event, f"event {event_id} was already reverted")
        await reversing.reverse(tx, event, drawn, windows, now)
        replacement = None
        if action is not Action.UNDO:
            corrected = named if action is Action.REDO_EVENT else None
            replacement = await _judge_again(tenant, tx, event, corrected)
        await notify.after_change(
            tenant,
            tx,
            features={(event.account_id, line.feature_id) for line in event.draws},
            announce=[("event.reverted", event.pk)],
        )
        after = await event_log.get_event(tx, event.pk)
        assert after is not None
        if replacement is None:
            return Corrected(after, Outcome.REVERTED, "reverted: its draws were given back")
        return Corrected(
            after,
            Outcome.REVERTED_AND_REINGESTED,
            f"reverted and judged again as {replacement.pk}",
            replacement,
        )

    try:
        return await tenant.run(work)
    except _Failed as failed:
        return Corrected(failed.event, Outcome.FAILED, failed.reason)


def _same_event(event: EventLogRecord, named: EventInput) -> None:
    """REDO_EVENT corrects the payload of the same event: same id, account and timestamp."""
    if named.timestamp != event.timestamp:
        raise InvalidInput(
            f"event.timestamp must be the event's own ({event.timestamp.isoformat()}): "
            "REDO_EVENT corrects its attributes, not when it happened"
        )


async def _judge_again(
    tenant: Tenant, tx: Tx, event: EventLogRecord, corrected: EventInput | None
) -> EventLogRecord:
    """The event judged again now, by the door that judged it first (REDO: as received;
    REDO_EVENT: with the corrected payload), under the id it holds."""
    payload = corrected.payload if corrected is not None else event.payload
    attributes = (
        list(corrected.attributes)
        if corrected is not None
        else [(a["name"], a["value"]) for a in event.payload.get("attributes", [])]
    )
    again = EventInput(
        schema_name=corrected.schema_name if corrected is not None else event.schema_name,
        id=event.event_id,
        timestamp=event.timestamp,
        account_id=event.account_id,
        attributes=attributes,
        payload=payload,
    )
    received = gate_batch.Received(
        again, event.event_id, named_attributes(attributes), Source(event.source)
    )
    [decided] = await gate_batch.decide(tenant, tx, [received], claim=False)
    if decided.error is not None:
        raise _Failed(event, _reason(decided.error))
    assert decided.reference is not None
    await event_log.set_replacement(tx, event.pk, decided.reference)
    found = await event_log.get_event(tx, decided.reference)
    assert found is not None
    return found


def _reason(error: LedgerError) -> str:
    return f"judged again and refused, so nothing was changed: {error.message}"
