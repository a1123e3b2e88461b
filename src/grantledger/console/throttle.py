"""A brake on guessing keys at the sign-in form: a few failures per address per minute.

Keys are 40 random base62 characters, so guessing one is hopeless anyway; this keeps a
script from using the form to hammer the database. Counted per server process (a brake, not
an account lockout: a locked-out operator only waits a minute).
"""

from __future__ import annotations

import time
from collections import deque

WINDOW_SECONDS = 60.0  # float-ok: seconds, not money
MAX_FAILURES = 10
_MAX_ADDRESSES = 10_000

_failures: dict[str, deque[float]] = {}  # float-ok: monotonic instants


def _recent(address: str, now: float) -> deque[float]:  # float-ok: monotonic instants
    stamps = _failures.setdefault(address, deque())
    while stamps and stamps[0] <= now - WINDOW_SECONDS:
        stamps.popleft()
    return stamps


def blocked(address: str) -> bool:
    return len(_recent(address, time.monotonic())) >= MAX_FAILURES


def failed(address: str) -> None:
    if len(_failures) >= _MAX_ADDRESSES and address not in _failures:
        _failures.clear()  # a flood of addresses: forget them all rather than grow unbounded
    _recent(address, time.monotonic()).append(time.monotonic())
