"""The one source of "now". Tests point a server at a clock file to travel in time."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FileClock:
    """Reads an ISO-8601 instant from a file on every call; falls back to the system clock.

    Used by tests that drive a real server process across cycle boundaries: every worker
    reads the same file, so all processes agree on the instant.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._system = SystemClock()

    def now(self) -> datetime:
        try:
            text = self._path.read_text().strip()
        except FileNotFoundError:
            return self._system.now()
        if not text:
            return self._system.now()
        instant = datetime.fromisoformat(text)
        return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def clock_from_env() -> Clock:
    path = os.environ.get("GRANTLEDGER_CLOCK_FILE")
    return FileClock(Path(path)) if path else SystemClock()
