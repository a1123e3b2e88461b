"""Feature holds: units reserved for a bounded time, then settled with what was really used.

A hold is judged like an `/entitled` event (all or nothing, the gate's order) and its units are
drawn from the entries at once, as the draws of a hold event; settling, releasing or expiring
it appends the reversal of those draws (and, settling, the draws of what was really used). The
rules here are the ones with no storage: the time limit, the status a hold shows at an instant,
what a request may ask.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from grantledger.domain.errors import Conflict, InvalidInput
from grantledger.domain.money import ZERO

DEFAULT_EXPIRY = timedelta(minutes=15)
MAX_EXPIRY = timedelta(hours=24)
# Features one hold may reserve: its settlement is listed as an event, which carries at most
# 10 attributes (Togai's Event; the official client refuses more).
MAX_FEATURES = 10


class FeatureHoldStatus(StrEnum):
    HELD = "HELD"
    SETTLED = "SETTLED"
    RELEASED = "RELEASED"
    EXPIRED = "EXPIRED"


# ISO-8601 durations of days and time (PT15M, PT1H30M, P1D, PT90S, PT0.5S); years, months and
# weeks are refused: a month has no fixed length and no hold outlives a day anyway.
_DURATION = re.compile(
    r"^P(?:(?P<days>\d{1,3})D)?"
    r"(?:T(?:(?P<hours>\d{1,5})H)?(?:(?P<minutes>\d{1,7})M)?(?:(?P<seconds>\d{1,9}(?:\.\d{1,6})?)S)?)?$"
)


def parse_expires_in(text: str | None, field: str = "expiresIn") -> timedelta:
    """The time limit a request asks for: an ISO-8601 duration, more than 0 and at most 24 h;
    absent, 15 minutes."""
    if text is None:
        return DEFAULT_EXPIRY
    found = _DURATION.match(text)
    if found is None or text in ("P", "PT") or text.endswith("T"):
        raise InvalidInput(
            f"{field} must be an ISO-8601 duration of days, hours, minutes or seconds, such as "
            f"PT15M or PT2H (got {text[:40]!r})"
        )
    parts = {k: v for k, v in found.groupdict().items() if v is not None}
    limit = timedelta(
        days=int(parts.get("days", 0)),
        hours=int(parts.get("hours", 0)),
        minutes=int(parts.get("minutes", 0)),
        # Seconds as an exact decimal, then whole microseconds: no float on the way.
        microseconds=int(Decimal(parts.get("seconds", "0")) * 1_000_000),
    )
    if limit <= timedelta(0):
        raise InvalidInput(f"{field} must be longer than 0 seconds")
    if limit > MAX_EXPIRY:
        raise InvalidInput(f"{field} must be at most 24 hours (PT24H); got {text}")
    return limit


def status_at(stored: FeatureHoldStatus, expires_at: datetime, now: datetime) -> FeatureHoldStatus:
    """The status a hold shows at `now`: a HELD hold past its limit is EXPIRED at once, before
    any sweeper has written it (its units stop counting at the same instant)."""
    if stored is FeatureHoldStatus.HELD and now >= expires_at:
        return FeatureHoldStatus.EXPIRED
    return stored


def check_units(
    lines: Sequence[tuple[str, Decimal]], *, field: str, positive: bool
) -> dict[str, Decimal]:
    """Per feature the units a hold (positive) or a settlement (zero allowed) names; each
    feature once."""
    if len(lines) > MAX_FEATURES:
        raise InvalidInput(f"{field} may name at most {MAX_FEATURES} features")
    units: dict[str, Decimal] = {}
    for feature_id, amount in lines:
        if feature_id in units:
            raise InvalidInput(f"{field} names feature {feature_id} twice; name each once")
        if positive and amount <= ZERO:
            raise InvalidInput(f"{field}: units of {feature_id} must be greater than 0")
        units[feature_id] = amount
    return units


def settlement_of(held: Mapping[str, Decimal], actual: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """What a settlement draws, per held feature (an omitted one: 0, all of it goes back). A
    feature the hold did not reserve is refused: settle it through `/ingest` instead."""
    extra = sorted(set(actual) - set(held))
    if extra:
        raise InvalidInput(
            f"feature {extra[0]} was not held by this hold; settle only the features it holds "
            f"({', '.join(sorted(held))})"
        )
    return {f: actual.get(f, ZERO) for f in sorted(held)}


def closed_message(hold_id: str, status: FeatureHoldStatus, wanted: str) -> str:
    """The 409 of a settle or release of a hold that is no longer HELD."""
    reason = {
        FeatureHoldStatus.EXPIRED: "it expired: its units went back when its time limit passed",
        FeatureHoldStatus.RELEASED: "it was released: its units went back",
        FeatureHoldStatus.SETTLED: "it was settled already",
        FeatureHoldStatus.HELD: "it is held",
    }[status]
    return f"feature hold {hold_id} cannot be {wanted}: {reason}"


def refuse_closed(hold_id: str, status: FeatureHoldStatus, wanted: str) -> None:
    if status is not FeatureHoldStatus.HELD:
        raise Conflict(closed_message(hold_id, status, wanted))
