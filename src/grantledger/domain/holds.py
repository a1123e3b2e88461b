"""What a hold on credits is and the states it passes through (see service/credits/holds.py)."""

from __future__ import annotations

from enum import StrEnum


class HoldKind(StrEnum):
    HOLD = "HOLD"  # reserve now, capture or release later
    DEBIT = "DEBIT"  # hold and capture in one step


class HoldStatus(StrEnum):
    HELD = "HELD"
    CAPTURED = "CAPTURED"
    RELEASED = "RELEASED"
