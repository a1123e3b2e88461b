"""Calendar arithmetic in UTC: the instant a day begins, whole months from a day."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def add_months(day: date, months: int, anchor_day: int) -> date:
    """`day` moved by whole months, keeping the anchor's day-of-month where the month has it."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(anchor_day, last))
