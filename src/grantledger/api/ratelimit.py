"""Token buckets kept in this process: per API key (failed authentications: service/operations/
attempts.py).

Each server process enforces its share (`rate / workers`, see config.Limits), so N workers
together allow about the configured rate; no database round trip is spent on the count.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict

from grantledger.config import Rate

_MAX_BUCKETS = 100_000


class Buckets:
    """One token bucket per name, the least recently used dropped beyond a bound."""

    def __init__(self, rate: Rate) -> None:
        self.rate = rate
        # name -> (tokens, last refill instant)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # float-ok

    def take(self, name: str) -> float:  # float-ok: seconds
        """Take one token: 0 when granted, else the seconds until one is available."""
        if not self.rate.enabled:
            return 0.0
        now = time.monotonic()
        tokens, last = self._buckets.get(name, (self.rate.burst, now))
        tokens = min(self.rate.burst, tokens + (now - last) * self.rate.per_second)
        if tokens >= 1:
            self._store(name, tokens - 1, now)
            return 0.0
        self._store(name, tokens, now)
        return (1 - tokens) / self.rate.per_second

    def _store(self, name: str, tokens: float, now: float) -> None:  # float-ok
        self._buckets[name] = (tokens, now)
        self._buckets.move_to_end(name)
        if len(self._buckets) > _MAX_BUCKETS:
            # A forgotten bucket starts full again: only ever in the client's favour.
            self._buckets.popitem(last=False)


def retry_after(wait: float) -> int:  # float-ok: seconds
    return max(1, math.ceil(wait))
