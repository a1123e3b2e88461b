"""What a hold on credits is and the states it passes through (see service/credits/holds.py)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum


class HoldKind(StrEnum):
    HOLD = "HOLD"  # reserve now, capture or release later
    DEBIT = "DEBIT"  # hold and capture in one step


class HoldStatus(StrEnum):
    HELD = "HELD"
    CAPTURED = "CAPTURED"
    RELEASED = "RELEASED"
    EXPIRED = "EXPIRED"  # past its `expiresIn`: released by the time limit


def status_at(stored: HoldStatus, expires_at: datetime | None, now: datetime) -> HoldStatus:
    """The status a hold shows at `now`: HELD past its limit is EXPIRED at once."""
    if stored is HoldStatus.HELD and expires_at is not None and now >= expires_at:
        return HoldStatus.EXPIRED
    return stored
