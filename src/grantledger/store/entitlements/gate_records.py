"""The records the group-committed gate's statements take and give (`gate.py`, `gate_pg.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class EventRecord:
    """A received event, accepted or refused (with the reason)."""

    id: str
    event_id: str
    account_id: str
    schema_name: str
    timestamp: datetime
    accepted: bool
    reason: str | None
    payload: dict[str, Any]
    received_at: datetime
    source: str = "ENTITLED"  # the door that judged it: ENTITLED or INGEST
    # What an ingested event's entries could not cover, by feature (amounts as exact text).
    shortfall: dict[str, str] | None = None


@dataclass(frozen=True)
class DrawRecord:
    """One draw of an accepted event from one entry; `seq` orders the event's draws."""

    event_pk: str
    seq: int
    account_id: str
    feature_id: str
    entry_id: str
    amount: Decimal
    created_at: datetime
    occurred_at: datetime  # the event's timestamp: the usage window it counts in
    plan: bool  # from a plan's allowance (PRICE_PLAN or OVERAGE): part of its window's usage


@dataclass(frozen=True)
class SchemaLinks:
    """What a schema meters: (feature id, attribute name) in feature order, and its status."""

    links: list[tuple[str, str]]
    active: bool


@dataclass(frozen=True)
class PriorOutcome:
    """How a received event was decided: accepted, or refused and why; for which account; and
    its reference id (the row a repeat of it is answered with)."""

    accepted: bool
    reason: str | None
    account_id: str
    reference: str


@dataclass(frozen=True)
class UsedUpdate:
    account_id: str
    feature_id: str
    entry_id: str
    used: Decimal


@dataclass(frozen=True)
class WatchedBy:
    """Which alerts `record_batch` reads with its writes: the ACTIVE ones of these templates
    watching any of these accounts (or every account)."""

    account_ids: list[str]
    template_ids: list[str]
