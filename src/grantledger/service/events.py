"""The real-time gate: accept an event only if every feature it consumes is covered."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from grantledger.domain import entitlements as rules
from grantledger.domain.errors import Conflict, InvalidInput, NotEntitled
from grantledger.domain.money import check_precision
from grantledger.service.context import Tenant
from grantledger.service.cycles import ensure_cycle_entries
from grantledger.store.entitlements import entries, event_schemas, gate
from grantledger.store.entitlements.entries import EntryRecord
from grantledger.store.entitlements.gate import DrawRecord, EventReads, EventRecord
from grantledger.store.tx import Tx


@dataclass(frozen=True)
class EventInput:
    schema_name: str
    id: str | None
    timestamp: datetime
    account_id: str
    attributes: Sequence[tuple[str, str]]  # (name, numeric text), as sent
    payload: dict[str, Any]


@dataclass(frozen=True)
class _Outcome:
    refusal: str | None


def _named(attributes: Sequence[tuple[str, str]]) -> dict[str, str]:
    named = dict(attributes)
    if len(named) != len(attributes):
        raise InvalidInput("event attributes must have distinct names")
    return named


def _quantities(attributes: dict[str, str], links: list[tuple[str, str]]) -> dict[str, Decimal]:
    quantities: dict[str, Decimal] = {}
    for feature_id, attribute in links:
        raw = attributes.get(attribute)
        if raw is None:
            raise InvalidInput(
                f"event lacks attribute {attribute}, the quantity of feature {feature_id}"
            )
        quantity = Decimal(raw)
        if quantity < 0:
            raise InvalidInput(f"attribute {attribute} must not be negative")
        check_precision(quantity, f"attribute {attribute}")
        quantities[feature_id] = quantity
    return quantities


async def ingest_entitled(tenant: Tenant, event: EventInput) -> None:
    """Accept and draw, all in one transaction, or refuse (403) having drawn nothing.

    A refused event is still recorded, and that record commits: the 403 is raised only once
    the transaction has ended.
    """
    event_id = event.id or tenant.new_id("event")
    attributes = _named(event.attributes)

    async def work(tx: Tx) -> _Outcome:
        now = tenant.now()
        reads = await gate.features_for_event(
            tx, event.schema_name, event.account_id, claim=(event_id, now)
        )
        await _check_metered(tx, event, reads)
        quantities = _quantities(attributes, reads.links)
        await _claim(tx, event_id, now, reads)
        records = await _usable_entries(tenant, tx, event, sorted(quantities), reads)
        try:
            planned = _plan_draws(records, quantities, event.timestamp)
        except NotEntitled as refusal:
            await gate.insert_event(tx, _event(tenant, event, event_id, now, refusal.message))
            return _Outcome(refusal.message)
        await _record_accepted(tenant, tx, event, event_id, now, records, planned)
        return _Outcome(None)

    outcome = await tenant.run(work)
    if outcome.refusal is not None:
        raise NotEntitled(outcome.refusal)


async def _check_metered(tx: Tx, event: EventInput, reads: EventReads) -> None:
    """The event's schema exists, is active and meters a feature; its account exists."""
    if not reads.links:
        if await event_schemas.get_schema(tx, event.schema_name) is None:
            raise InvalidInput(f"event schema {event.schema_name} does not exist")
        raise InvalidInput(f"no feature consumes events of schema {event.schema_name}")
    if not reads.schema_active:
        raise InvalidInput(
            f"event schema {event.schema_name} is inactive; activate it to accept its events"
        )
    if len(event.account_id) > 50 or not reads.account_found:
        raise InvalidInput(f"account {event.account_id} does not exist")


async def _claim(tx: Tx, event_id: str, now: datetime, reads: EventReads) -> None:
    stale_before = now - rules.EVENT_ID_TTL
    if not await gate.claim_event_id(tx, event_id, now, stale_before, inserted=reads.claimed):
        raise Conflict(f"event id {event_id} was already received in the last 45 days")


async def _usable_entries(
    tenant: Tenant, tx: Tx, event: EventInput, feature_ids: list[str], reads: EventReads
) -> list[EntryRecord]:
    """The entries the event may draw from, locked."""
    if reads.on_billing_plan:  # only billing schedules have cycle entries to create
        await ensure_cycle_entries(
            tenant, tx, event.account_id, feature_ids=feature_ids, at=event.timestamp
        )
    return await entries.account_entries(
        tx, event.account_id, feature_ids, effective_at=event.timestamp, lock=True
    )


def _plan_draws(
    records: list[EntryRecord], quantities: dict[str, Decimal], at: datetime
) -> list[tuple[str, rules.Draw]]:
    """(feature id, draw) of every feature, in feature order; NotEntitled if one falls short."""
    by_feature: dict[str, list[rules.Entry]] = defaultdict(list)
    for record in records:
        by_feature[record.feature_id].append(record.entry)
    planned: list[tuple[str, rules.Draw]] = []
    for feature_id in sorted(quantities):
        if quantities[feature_id] == 0:
            continue
        for d in rules.draw(by_feature[feature_id], quantities[feature_id], at, feature_id):
            planned.append((feature_id, d))
    return planned


async def _record_accepted(
    tenant: Tenant,
    tx: Tx,
    event: EventInput,
    event_id: str,
    now: datetime,
    records: list[EntryRecord],
    planned: list[tuple[str, rules.Draw]],
) -> None:
    """Write the event, its draws and the entries' new `used`."""
    accepted = _event(tenant, event, event_id, now, None)
    current = {(r.feature_id, r.entry.id): r.entry for r in records}
    used: dict[tuple[str, str], Decimal] = {}
    drawn: list[DrawRecord] = []
    for seq, (feature_id, d) in enumerate(planned):
        entry = rules.apply_draw(current[(feature_id, d.entry_id)], d.amount)
        current[(feature_id, d.entry_id)] = entry
        used[(feature_id, d.entry_id)] = entry.used
        drawn.append(
            DrawRecord(accepted.id, seq, event.account_id, feature_id, d.entry_id, d.amount, now)
        )
    await gate.record_accepted(
        tx, accepted, [(*key, value) for key, value in sorted(used.items())], drawn
    )


def _event(
    tenant: Tenant, event: EventInput, event_id: str, now: datetime, refusal: str | None
) -> EventRecord:
    return EventRecord(
        id=tenant.new_id("evt", now),
        event_id=event_id,
        account_id=event.account_id,
        schema_name=event.schema_name,
        timestamp=event.timestamp,
        accepted=refusal is None,
        reason=refusal,
        payload=event.payload,
        received_at=now,
    )
