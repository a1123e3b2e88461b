"""Togai-shaped ids: `<prefix>.<11 base62, time-ordered>.<5 base62 random>`."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

# ASCII order, so that the text order of ids follows the order of their timestamps.
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
TIME_WIDTH = 11
RANDOM_WIDTH = 5
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def base62(number: int, width: int) -> str:
    if number < 0:
        raise ValueError("base62 encodes non-negative numbers")
    chars: list[str] = []
    rest = number
    while rest:
        rest, digit = divmod(rest, 62)
        chars.append(BASE62[digit])
    text = "".join(reversed(chars)) or "0"
    if len(text) > width:
        raise ValueError(f"{number} does not fit in {width} base62 digits")
    return text.rjust(width, "0")


def new_id(prefix: str, at: datetime, random_part: str | None = None) -> str:
    """An id whose middle part is the instant in microseconds, so ids sort by creation time."""
    micros = (at - EPOCH) // timedelta(microseconds=1)
    tail = random_part if random_part is not None else random_base62(RANDOM_WIDTH)
    return f"{prefix}.{base62(micros, TIME_WIDTH)}.{tail}"


def new_ids(prefix: str, at: datetime, count: int) -> list[str]:
    """`count` distinct ids of one instant, in ascending order: the i-th is for the i-th thing a
    request makes. Rows made together share their instant, so the id is what orders them (the
    burn-down order ends with createdAt, then id): sorting the random parts makes that order
    the request's, while every id still encodes its own creation instant."""
    tails: set[str] = set()
    while len(tails) < count:
        tails.add(random_base62(RANDOM_WIDTH))
    return [new_id(prefix, at, tail) for tail in sorted(tails)]


def random_base62(width: int) -> str:
    return "".join(secrets.choice(BASE62) for _ in range(width))
