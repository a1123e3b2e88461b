"""What differs between the two databases, chosen once, where the database is opened.

Every query of the store is one SQLAlchemy statement that runs on SQLite and PostgreSQL alike.
A few of them have a faster PostgreSQL-only version (a fixed text on the raw driver, a sum
left to the server): the portable function is marked `@specialised`, and PostgreSQL's
`Backend` (built in `store/pg/`, the one place those texts live) maps it to its replacement.
A call then runs whatever the transaction's backend holds for it — no query asks which
database it is on. `tests/store/test_pg_statements.py` runs each pair over the same rows
and requires the same records.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ParamSpec, Protocol, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy import Table
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

P = ParamSpec("P")
R = TypeVar("R")


class Inserting(Protocol):
    """A dialect's `insert(table)`: the statement that has `on_conflict_do_nothing`."""

    def __call__(self, table: Table) -> Any: ...


async def _no_timeout(conn: AsyncConnection, milliseconds: int) -> None:
    """SQLite has no per-statement timeout; its busy timeout bounds the waits."""


@dataclass(frozen=True)
class Backend:
    name: str
    # INSERT … ON CONFLICT DO NOTHING is spelt by the dialect's own insert construct.
    insert: Inserting = sqlite.insert
    # Bound the statements of the current transaction (cross-tenant reads a probe runs).
    local_timeout: Callable[[AsyncConnection, int], Awaitable[None]] = _no_timeout
    # The journal's commit order (docs/api.md, "The cursor"). `commit_order` is the number a
    # journal row takes from its writing transaction; `settled_below` is the number below which
    # no transaction is still running, so no row under it can still appear. SQLite has one
    # writer at a time, which commits its rows in `seq` order: every row takes 0 and all of
    # them are settled.
    commit_order: Callable[[], Any] = lambda: sa.literal(0, sa.BigInteger())
    settled_below: Callable[[], Any] = lambda: sa.literal(2**63 - 1, sa.BigInteger())
    # Key of a `@specialised` function → the function that replaces it on this backend.
    replacements: Mapping[str, Callable[..., Awaitable[Any]]] = field(default_factory=dict)


PORTABLE = Backend("sqlite")


def key_of(function: Callable[..., Any]) -> str:
    return f"{function.__module__}.{function.__qualname__}"


class Specialised(Protocol[P, R]):
    portable: Callable[P, Awaitable[R]]
    key: str

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Awaitable[R]: ...


def specialised(portable: Callable[P, Awaitable[R]]) -> Specialised[P, R]:
    """Mark a store function (its first argument a `Tx`) that a backend may replace.

    The replacement takes the same arguments and returns the same records."""
    key = key_of(portable)

    @functools.wraps(portable)
    async def dispatch(*args: P.args, **kwargs: P.kwargs) -> R:
        backend: Backend = cast(Any, args[0]).backend  # the `Tx`'s
        chosen = backend.replacements.get(key, portable)
        return cast(R, await chosen(*args, **kwargs))

    marked = cast(Any, dispatch)
    marked.portable = portable
    marked.key = key
    return cast(Specialised[P, R], marked)
