"""The two doors of usage: the real-time gate (`/entitled`: accept an event only if every
feature it consumes is covered) and the ingestion (`/ingest`: record what happened)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from grantledger.domain.corrections import Source
from grantledger.domain.cycles import check_reach
from grantledger.domain.errors import InvalidInput, LedgerError, NotEntitled
from grantledger.domain.gate import named_attributes
from grantledger.service.context import Tenant
from grantledger.service.entitlements import group_commit
from grantledger.service.entitlements.event_input import EventInput
from grantledger.service.entitlements.gate_batch import Received

__all__ = ["EventInput", "Recorded", "ingest_entitled", "record_usage"]


async def ingest_entitled(tenant: Tenant, event: EventInput) -> None:
    """Accept and draw, all in one transaction, or refuse (403) having drawn nothing.

    The event is decided together with the others this process receives meanwhile
    (`group_commit`), each with its own outcome. A refused event is still recorded, and that
    record commits: the 403 is raised only once the transaction has ended. A duplicate id
    answers 409 saying how the original was decided.
    """
    check_reach(event.timestamp, tenant.now(), "event timestamp")
    received = Received(
        event,
        event.id or tenant.new_id("event"),
        named_attributes(event.attributes),
        audit=tenant.cause.audit,
    )
    outcome = await group_commit.submit(tenant, received)
    if received.audit is not None:
        received.audit.committed.append(True)  # its batch wrote its row
    if outcome.error is not None:
        raise outcome.error


@dataclass(frozen=True)
class Recorded:
    """What `/ingest` did with one event: its reference id and shortfall when it was recorded
    (or, `repeat`, was already), else the error it failed with."""

    event_id: str
    reference: str | None = None
    shortfall: dict[str, Decimal] = field(default_factory=dict)
    repeat: bool = False
    error: LedgerError | None = None


async def record_usage(tenant: Tenant, batch: Sequence[EventInput]) -> list[Recorded]:
    """Record usage that happened: each event draws what its account's entries cover, by the
    gate's rules, and the rest is recorded as its shortfall, never refused. Judged in order,
    group-committed with the gate's events (their ids are deduplicated together)."""
    now = tenant.now()
    results: list[Recorded | None] = [None] * len(batch)
    received: list[tuple[int, Received]] = []
    for i, event in enumerate(batch):
        event_id = event.id or tenant.new_id("event")
        try:
            check_reach(event.timestamp, now, "event timestamp")
            attributes = named_attributes(event.attributes)
        except LedgerError as error:
            results[i] = Recorded(event_id, error=error)
            continue
        received.append((i, Received(event, event_id, attributes, Source.INGEST)))
    outcomes = await group_commit.submit_many(tenant, [r for _, r in received])
    for (i, r), outcome in zip(received, outcomes, strict=True):
        if outcome.error is None or outcome.repeat:
            results[i] = Recorded(r.event_id, outcome.reference, outcome.shortfall, outcome.repeat)
        elif isinstance(outcome.error, NotEntitled):
            # Only a closed cycle's grace refuses usage that happened (never a lack of units):
            # the event's date is what is wrong, as with one too far back.
            results[i] = Recorded(r.event_id, error=InvalidInput(outcome.error.message))
        else:
            results[i] = Recorded(r.event_id, error=outcome.error)
    return [r for r in results if r is not None]
