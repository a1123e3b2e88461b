"""Idempotent replays, one rule for every keyed write (a credit's idempotency key, an invoice id,
a purchase's or a grant's key, a plan assignment's key): a repeated request returns what the
first one made; a reused key with a different request is a conflict, never a silent second
effect. The request's fingerprint (`fingerprint.py`) is what tells the two apart."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from grantledger.domain.errors import Conflict


class Keyed(Protocol):
    @property
    def request_hash(self) -> str | None: ...


K = TypeVar("K", bound=Keyed)


def _own_hash(record: Keyed) -> str | None:
    return record.request_hash


async def replay_of(
    key: str | None,
    find: Callable[[str], Awaitable[K | None]],
    digest: str,
    conflict: Callable[[K], str],
    *,
    fingerprint_of: Callable[[K], str | None] = _own_hash,
) -> K | None:
    """What an earlier request with this key made, when this request repeats it; None when
    there is no key or none was made with it; `Conflict(conflict(prior))` when the key was
    used for a different request (`fingerprint_of(prior)` is not this request's `digest`)."""
    if key is None:
        return None
    prior = await find(key)
    if prior is None:
        return None
    if fingerprint_of(prior) != digest:
        raise Conflict(conflict(prior))
    return prior
