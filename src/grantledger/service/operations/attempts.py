"""The brake on guessing API keys, shared by every door that takes one (the API, the console).

Both doors answer the same question (is this a key?), so they share one budget of failed
attempts per client address (GRANTLEDGER_AUTH_FAILURE_LIMIT). Spending it must not lock out the
right key: clients behind one address (an office's NAT) are many, and one of them guessing or
misconfigured would shut the others out. Once an address has spent its failures:

- a key this process accepted in the last 10 minutes is still looked up (and served);
- any other key is looked up at most once a second per address (so the right key still gets in
  when the address is not being flooded), and otherwise answered 429 without a lookup — a flood
  of guesses costs no database work and tries at most one key a second.

Keys are 40 random base62 characters: the brake bounds cost and noise; guessing one is hopeless.
Only digests of keys are held, in bounded maps, per process (docs/operations.md).
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict

from grantledger.config import Rate

RECENT_SECONDS = 600.0  # float-ok: seconds a key accepted here stays "served lately"
PROBE = Rate(1.0, 1.0)  # float-ok: lookups a second for an address out of failures
_MAX_ENTRIES = 100_000


class _Buckets:
    """Token buckets by name, least recently used dropped past a bound (a dropped bucket is
    full again: only ever in the client's favour)."""

    def __init__(self, rate: Rate) -> None:
        self.rate = rate
        self._state: OrderedDict[str, tuple[float, float]] = OrderedDict()  # float-ok

    def _tokens(self, name: str, now: float) -> float:  # float-ok
        tokens, last = self._state.get(name, (self.rate.burst, now))
        return min(self.rate.burst, tokens + (now - last) * self.rate.per_second)

    def wait(self, name: str) -> float:  # float-ok: seconds
        """Seconds until `name` has a token (0: now); takes nothing."""
        if not self.rate.enabled:
            return 0.0
        tokens = self._tokens(name, time.monotonic())
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate.per_second

    def take(self, name: str) -> float:  # float-ok: seconds
        """Take a token: 0 when one was there, else the seconds until there is one."""
        if not self.rate.enabled:
            return 0.0
        now = time.monotonic()
        tokens = self._tokens(name, now)
        taken = tokens >= 1
        self._state[name] = (tokens - 1 if taken else tokens, now)
        self._state.move_to_end(name)
        if len(self._state) > _MAX_ENTRIES:
            self._state.popitem(last=False)
        return 0.0 if taken else (1 - tokens) / self.rate.per_second


class Attempts:
    """Failed key attempts per address, and the keys accepted lately, in this process."""

    def __init__(self, failures: Rate) -> None:
        self.failures = _Buckets(failures)
        self.probes = _Buckets(PROBE)
        self._accepted: OrderedDict[bytes, float] = OrderedDict()  # float-ok: expiry instants

    @staticmethod
    def _digest(key: str) -> bytes:
        return hashlib.sha256(key.encode()).digest()

    def may_look_up(self, address: str, key: str | None) -> float:  # float-ok: seconds
        """0 when `key` may be looked up for `address`; else seconds to wait (answer 429)."""
        wait = self.failures.wait(address)
        if not wait:
            return 0.0
        if key is not None and self._accepted_lately(key):
            return 0.0
        if key is not None and not self.probes.take(address):
            return 0.0
        return wait

    def failed(self, address: str) -> float:  # float-ok: seconds
        """Charge a failed attempt: 0 while the address had failures left (answer 401), else
        the seconds to wait (answer 429)."""
        return self.failures.take(address)

    def accepted(self, key: str) -> None:
        digest = self._digest(key)
        self._accepted[digest] = time.monotonic() + RECENT_SECONDS
        self._accepted.move_to_end(digest)
        if len(self._accepted) > _MAX_ENTRIES:
            self._accepted.popitem(last=False)

    def _accepted_lately(self, key: str) -> bool:
        expiry = self._accepted.get(self._digest(key))
        return expiry is not None and expiry > time.monotonic()


_current: list[Attempts] = []


def install(failures: Rate) -> Attempts:
    """The process's brake, made when its app is built (the doors then share it)."""
    _current[:] = [Attempts(failures)]
    return _current[0]


def current() -> Attempts:
    if not _current:
        install(Rate(0.0, 0.0))  # an app built without settings: no brake
    return _current[0]
