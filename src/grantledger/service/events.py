"""The real-time gate: accept an event only if every feature it consumes is covered."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from grantledger.domain import entitlements as rules
from grantledger.domain.errors import Conflict, InvalidInput, NotEntitled
from grantledger.domain.money import check_precision
from grantledger.service.context import Context
from grantledger.service.grants import ensure_cycle_entries
from grantledger.store import entitlements as store


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


async def ingest_entitled(ctx: Context, org_id: str, event: EventInput) -> None:
    """Accept and draw, all in one transaction, or refuse (403) having drawn nothing."""
    event_id = event.id or ctx.new_id("event")
    attributes = _named(event.attributes)

    async def work(conn: AsyncConnection) -> _Outcome:
        now = ctx.now()
        reads = await store.features_for_event(
            conn, org_id, event.schema_name, event.account_id, claim=(event_id, now)
        )
        links = reads.links
        if not links:
            if await store.get_schema(conn, org_id, event.schema_name) is None:
                raise InvalidInput(f"event schema {event.schema_name} does not exist")
            raise InvalidInput(f"no feature consumes events of schema {event.schema_name}")
        if not reads.schema_active:
            raise InvalidInput(
                f"event schema {event.schema_name} is inactive; activate it to accept its events"
            )
        if len(event.account_id) > 50 or not reads.account_found:
            raise InvalidInput(f"account {event.account_id} does not exist")
        quantities = _quantities(attributes, links)
        stale_before = now - rules.EVENT_ID_TTL
        if not await store.claim_event_id(
            conn, org_id, event_id, now, stale_before, inserted=reads.claimed
        ):
            raise Conflict(f"event id {event_id} was already received in the last 45 days")
        feature_ids = sorted(quantities)
        if reads.on_billing_plan:  # only billing schedules have cycle entries to create
            await ensure_cycle_entries(
                ctx, conn, org_id, event.account_id, feature_ids=feature_ids, at=event.timestamp
            )
        records = await store.account_entries(
            conn, org_id, event.account_id, feature_ids, effective_at=event.timestamp, lock=True
        )
        by_feature: dict[str, list[rules.Entry]] = defaultdict(list)
        for record in records:
            by_feature[record.feature_id].append(record.entry)
        planned: list[tuple[str, rules.Draw]] = []
        try:
            for feature_id in feature_ids:
                if quantities[feature_id] == 0:
                    continue
                for d in rules.draw(
                    by_feature[feature_id], quantities[feature_id], event.timestamp, feature_id
                ):
                    planned.append((feature_id, d))
        except NotEntitled as refusal:
            await _record_event(ctx, conn, org_id, event, event_id, now, refusal.message)
            return _Outcome(refusal.message)
        event_pk = ctx.new_id("evt", now)
        current = {(r.feature_id, r.entry.id): r.entry for r in records}
        used: dict[tuple[str, str], Decimal] = {}
        rows = []
        for seq, (feature_id, d) in enumerate(planned):
            entry = rules.apply_draw(current[(feature_id, d.entry_id)], d.amount)
            current[(feature_id, d.entry_id)] = entry
            used[(feature_id, d.entry_id)] = entry.used
            rows.append(
                {
                    "event_pk": event_pk,
                    "seq": seq,
                    "org_id": org_id,
                    "account_id": event.account_id,
                    "feature_id": feature_id,
                    "entry_id": d.entry_id,
                    "amount": d.amount,
                    "created_at": now,
                }
            )
        await store.record_accepted(
            conn,
            _event_row(org_id, event, event_id, event_pk, now, None),
            [(*key, value) for key, value in sorted(used.items())],
            rows,
        )
        return _Outcome(None)

    outcome = await ctx.db.run(work)
    if outcome.refusal is not None:
        raise NotEntitled(outcome.refusal)


async def _record_event(
    ctx: Context,
    conn: AsyncConnection,
    org_id: str,
    event: EventInput,
    event_id: str,
    now: datetime,
    refusal: str | None,
) -> str:
    pk = ctx.new_id("evt", now)
    await store.insert_event(conn, _event_row(org_id, event, event_id, pk, now, refusal))
    return pk


def _event_row(
    org_id: str, event: EventInput, event_id: str, pk: str, now: datetime, refusal: str | None
) -> dict[str, Any]:
    return {
        "id": pk,
        "org_id": org_id,
        "event_id": event_id,
        "account_id": event.account_id,
        "schema_name": event.schema_name,
        "timestamp": event.timestamp,
        "accepted": refusal is None,
        "reason": refusal,
        "payload": event.payload,
        "received_at": now,
    }
