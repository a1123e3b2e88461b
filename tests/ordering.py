"""The comparison both reference models of the domain tests order by (docs/api.md §3, §6)."""

from __future__ import annotations

from typing import Any


def first_difference(*sides: tuple[Any, Any]) -> int:
    """-1, 0 or 1 by the first (a, b) pair whose sides differ, compared ascending.

    A `None` side stands for a date that never comes (no `effectiveUntil`), so it sorts after
    every value.
    """
    for a, b in sides:
        if a == b:
            continue
        if a is None:
            return 1
        if b is None:
            return -1
        return -1 if a < b else 1
    return 0
