"""What the use cases count for the operator, after their transaction commits.

Metrics live above the service layer: the API installs a sink (`install`) when the app starts,
as it installs the outbox renderers; a process without one (the CLI) counts nothing. A count is
reported only once the unit of work has returned, so a rolled back or retried attempt is never
counted.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol


class Counters(Protocol):
    def credits_granted(self, count: int) -> None: ...
    def delivery(self, outcome: str) -> None: ...
    def feature_holds(self, outcome: str, count: int = 1) -> None: ...
    def feature_hold_shortfall(self, units: Decimal) -> None: ...


class _Uncounted:
    def credits_granted(self, count: int) -> None:
        return None

    def delivery(self, outcome: str) -> None:
        return None

    def feature_holds(self, outcome: str, count: int = 1) -> None:
        return None

    def feature_hold_shortfall(self, units: Decimal) -> None:
        return None


_sink: list[Counters] = [_Uncounted()]


def install(counters: Counters) -> None:
    _sink[:] = [counters]


def current() -> Counters:
    return _sink[0]
