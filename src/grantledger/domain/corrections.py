"""Usage recorded and taken back: what an ingested event draws, the status an event shows, and
when an event may still be corrected.

A correction never edits the past: an UNDO appends a reversal for each draw of the event (the
draws stay), and the event shows REVERTED from then on. A REDO is an UNDO and a new judgement
of the same (or, REDO_EVENT, a corrected) payload, in one transaction: all or nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from grantledger.domain.entitlements import Draw, Entry, available, draw
from grantledger.domain.money import ZERO

# How long after the entries an event drew from have ended it may still be corrected.
DEFAULT_CORRECTION_GRACE = timedelta(days=7)
PAST_CYCLE = "Event was ingested in past pricing cycle"  # Togai's reason, word for word


class Action(StrEnum):
    UNDO = "UNDO"
    REDO = "REDO"
    REDO_EVENT = "REDO_EVENT"


class Source(StrEnum):
    """Which door judged an event (Togai's EventSource, `{id, type}` both this value)."""

    ENTITLED = "ENTITLED"
    INGEST = "INGEST"
    # A feature hold's reservation (judged like ENTITLED) and its settlement (recorded like
    # INGEST: what was used happened, so what is not covered is a shortfall).
    HOLD = "FEATURE_HOLD"
    SETTLE = "FEATURE_HOLD_SETTLE"


class Outcome(StrEnum):
    """A correction's answer (EventCorrectionInfo.status)."""

    REVERTED = "REVERTED"
    REVERTED_AND_REINGESTED = "REVERTED_AND_REINGESTED"
    FAILED = "FAILED"


# Togai's IngestionStatus values an event of this ledger can show.
METERED = "INGESTION_COMPLETED_EVENT_METERED"
NOT_METERED = "INGESTION_COMPLETED_EVENT_NOT_METERED"
INSUFFICIENT = "INGESTION_FAILED_INSUFFICIENT_CREDITS"
PAST_GRACE = "INGESTION_FAILED_PAST_GRACE_PERIOD"
REVERTED = "REVERTED"
STATUSES = (METERED, NOT_METERED, INSUFFICIENT, PAST_GRACE, REVERTED)


@dataclass(frozen=True)
class Shown:
    status: str
    description: str | None
    before_reverting: str | None = None


def status_of(
    accepted: bool,
    reason: str | None,
    drew: bool,
    shortfall: Mapping[str, Decimal] | None,
    reverted: bool,
) -> Shown:
    """The status an event shows: how it was judged, then REVERTED once corrected."""
    if not accepted:
        kind = PAST_GRACE if reason is not None and GRACE_MARK in reason else INSUFFICIENT
        judged = Shown(kind, reason)
    elif shortfall:
        missing = ", ".join(f"{f} {amount}" for f, amount in sorted(shortfall.items()))
        judged = Shown(METERED, f"recorded; not covered (shortfall): {missing}")
    else:
        judged = Shown(METERED if drew else NOT_METERED, None)
    if reverted:
        return Shown(REVERTED, "reverted by a correction", judged.status)
    return judged


GRACE_MARK = "gracePeriodDays"  # in the reason of a refusal past a plan's grace period


@dataclass(frozen=True)
class StatusFilter:
    """What the rows of an event of one status have (None: either way)."""

    accepted: bool | None = None
    reverted: bool | None = None
    metered: bool | None = None  # drew from an entry, or recorded a shortfall
    past_grace: bool | None = None


def status_filter(status: str) -> StatusFilter:
    return {
        REVERTED: StatusFilter(reverted=True),
        METERED: StatusFilter(accepted=True, reverted=False, metered=True),
        NOT_METERED: StatusFilter(accepted=True, reverted=False, metered=False),
        INSUFFICIENT: StatusFilter(accepted=False, reverted=False, past_grace=False),
        PAST_GRACE: StatusFilter(accepted=False, reverted=False, past_grace=True),
    }[status]


def record_draws(
    by_feature: Mapping[str, Sequence[Entry]], quantities: Mapping[str, Decimal], at: datetime
) -> tuple[list[tuple[str, Draw]], dict[str, Decimal]]:
    """What an ingested event draws: of each feature, what the entries effective at `at`
    cover, by the gate's order; the rest is a shortfall (it happened: recorded, never refused)."""
    planned: list[tuple[str, Draw]] = []
    shortfall: dict[str, Decimal] = {}
    for feature_id in sorted(quantities):
        quantity = quantities[feature_id]
        if quantity == 0:
            continue
        entries = by_feature.get(feature_id, ())
        covered = min(quantity, available(entries, at))
        if covered > 0:
            planned.extend((feature_id, d) for d in draw(entries, covered, at, feature_id))
        if covered < quantity:
            shortfall[feature_id] = quantity - covered
    return planned, shortfall


def past_grace(entries: Iterable[Entry], now: datetime, grace: timedelta) -> bool:
    """Whether an event drawn from these entries may no longer be corrected: one of them ended
    (or was voided: `voided_at`-less entries count as ended when their window did) more than
    `grace` ago."""
    return any(e.effective_until is not None and e.effective_until + grace <= now for e in entries)


def total(amounts: Iterable[Decimal]) -> Decimal:
    return sum(amounts, ZERO)
