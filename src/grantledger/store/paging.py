"""Keyset pages: ordered by a unique key, so concurrent inserts never duplicate or skip rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    last_key: str | None  # the key to continue after, when there are more rows


async def fetch_page(
    conn: AsyncConnection,
    query: sa.Select[Any],
    key: sa.ColumnElement[str],
    *,
    after: str | None,
    limit: int,
    descending: bool = False,
) -> Page[sa.Row[Any]]:
    if after is not None:
        query = query.where(key < after if descending else key > after)
    query = query.order_by(key.desc() if descending else key.asc()).limit(limit + 1)
    rows: Sequence[sa.Row[Any]] = (await conn.execute(query)).all()
    more = len(rows) > limit
    items = list(rows[:limit])
    last_key = items[-1]._mapping[key] if more and items else None
    return Page(items, last_key)
