"""Idempotent replays: a repeated request returns what the first one made; a reused key with a
different request is a conflict, never a silent second effect."""

from __future__ import annotations

from typing import TypeVar

from grantledger.domain.errors import Conflict

T = TypeVar("T")


def replayed(prior: T | None, prior_hash: str | None, digest: str, conflict: str) -> T | None:
    """`prior` when this request repeats it, None when there is none; else Conflict(conflict)."""
    if prior is None:
        return None
    if prior_hash != digest:
        raise Conflict(conflict)
    return prior
