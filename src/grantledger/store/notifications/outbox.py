"""The outbox: webhook messages written in the ledger's transaction, claimed by the worker.

Claiming is its own short transaction (`due_messages` then `lease_messages`): `FOR UPDATE SKIP
LOCKED` on PostgreSQL lets several server processes take disjoint messages; SQLite has one
writer, which serializes claims. A claim pushes `next_attempt_at` forward by a lease, so a
process that dies mid-delivery leaves the message to be taken again once the lease ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from grantledger.store.backend import Backend
from grantledger.store.paging import Page, fetch_page
from grantledger.store.tables import notify_marks, webhook_messages
from grantledger.store.tx import Tx


@dataclass(frozen=True)
class MessageRecord:
    id: str
    org_id: str
    endpoint_id: str
    event_type: str
    body: str
    status: str
    attempts: int
    last_status_code: int | None
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    created_at: datetime


def _message(row: sa.Row[Any]) -> MessageRecord:
    m = row._mapping
    return MessageRecord(**{k: m[k] for k in MessageRecord.__dataclass_fields__})


async def insert_messages(tx: Tx, records: Sequence[MessageRecord]) -> None:
    if not records:
        return
    rows = [{k: getattr(r, k) for k in MessageRecord.__dataclass_fields__} for r in records]
    await tx.conn.execute(webhook_messages.insert(), rows)


async def mark_once(tx: Tx, kind: str, object_ids: Sequence[str]) -> set[str]:
    """Record that these facts were announced; returns the ids this call recorded first."""
    if not object_ids:
        return set()
    known = set(
        (
            await tx.conn.execute(
                sa.select(notify_marks.c.object_id).where(
                    notify_marks.c.org_id == tx.org_id,
                    notify_marks.c.kind == kind,
                    notify_marks.c.object_id.in_(object_ids),
                )
            )
        ).scalars()
    )
    won: set[str] = set()
    for object_id in object_ids:
        if object_id in known:
            continue
        insert: Any = tx.backend.insert(notify_marks).values(
            org_id=tx.org_id, kind=kind, object_id=object_id
        )
        if (await tx.conn.execute(insert.on_conflict_do_nothing())).rowcount == 1:
            won.add(object_id)
    return won


async def due_messages(
    conn: AsyncConnection,
    now: datetime,
    limit: int,
    skip_endpoints: Sequence[tuple[str, str]] = (),
    skip_organizations: Sequence[str] = (),
) -> list[MessageRecord]:
    """Up to `limit` due messages, oldest due first, locked for this transaction (others'
    locked rows skipped on PostgreSQL), leaving out the (org, endpoint) pairs and the
    organizations given: the worker's busy ones, so a backlog of theirs never hides others'."""
    query = sa.select(webhook_messages).where(
        webhook_messages.c.status == "PENDING",
        webhook_messages.c.next_attempt_at <= now,
    )
    if skip_endpoints:
        pair = sa.tuple_(webhook_messages.c.org_id, webhook_messages.c.endpoint_id)
        query = query.where(pair.not_in(list(skip_endpoints)))
    if skip_organizations:
        query = query.where(webhook_messages.c.org_id.not_in(list(skip_organizations)))
    # Two processes' workers pass over each other's claims (SQLite, one writer, has no row
    # locks: SQLAlchemy leaves the clause out there).
    query = (
        query.order_by(webhook_messages.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [_message(r) for r in (await conn.execute(query)).all()]


async def lease_messages(
    conn: AsyncConnection, message_ids: Sequence[str], now: datetime, lease_until: datetime
) -> None:
    """Take these messages for an attempt: count it, and keep others off them until
    `lease_until` (a process that dies mid-attempt leaves them to be taken again then)."""
    if not message_ids:
        return
    await conn.execute(
        webhook_messages.update()
        .where(webhook_messages.c.id.in_(list(message_ids)))
        .values(
            attempts=webhook_messages.c.attempts + 1,
            last_attempt_at=now,
            next_attempt_at=lease_until,
        )
    )


async def record_attempt(
    conn: AsyncConnection,
    message_id: str,
    attempt: int,
    status: str,
    status_code: int | None,
    next_attempt_at: datetime | None,
) -> None:
    """Write an attempt's outcome, unless the message moved on since (a retry, another claim)."""
    await conn.execute(
        webhook_messages.update()
        .where(
            webhook_messages.c.id == message_id,
            webhook_messages.c.attempts == attempt,
            webhook_messages.c.status == "PENDING",
        )
        .values(status=status, last_status_code=status_code, next_attempt_at=next_attempt_at)
    )


async def get_message(tx: Tx, endpoint_id: str, message_id: str) -> MessageRecord | None:
    row = (
        await tx.conn.execute(
            sa.select(webhook_messages).where(
                webhook_messages.c.org_id == tx.org_id,
                webhook_messages.c.endpoint_id == endpoint_id,
                webhook_messages.c.id == message_id,
            )
        )
    ).first()
    return _message(row) if row else None


async def requeue(tx: Tx, message_id: str, now: datetime) -> None:
    """A manual retry: a fresh schedule, from now."""
    await tx.conn.execute(
        webhook_messages.update()
        .where(webhook_messages.c.org_id == tx.org_id, webhook_messages.c.id == message_id)
        .values(status="PENDING", attempts=0, next_attempt_at=now)
    )


async def list_messages(
    tx: Tx, endpoint_id: str, after: str | None, limit: int
) -> Page[MessageRecord]:
    query = sa.select(webhook_messages).where(
        webhook_messages.c.org_id == tx.org_id, webhook_messages.c.endpoint_id == endpoint_id
    )
    page = await fetch_page(
        tx.conn, query, webhook_messages.c.id, after=after, limit=limit, descending=True
    )
    return Page([_message(r) for r in page.items], page.last_key)


async def delete_endpoint_messages(tx: Tx, endpoint_id: str) -> None:
    await tx.conn.execute(
        webhook_messages.delete().where(
            webhook_messages.c.org_id == tx.org_id, webhook_messages.c.endpoint_id == endpoint_id
        )
    )


@dataclass(frozen=True)
class BacklogRecord:
    oldest_due: datetime | None  # the earliest `next_attempt_at` of a PENDING message due
    failed: int  # FAILED messages, counted up to the cap given


async def backlog(
    conn: AsyncConnection, backend: Backend, now: datetime, failed_cap: int, timeout_ms: int
) -> BacklogRecord:
    """What an operator alerts on, across organizations, for the cost of two index lookups:
    the due-index gives the MIN at once, and the FAILED count stops at `failed_cap` rows.
    On PostgreSQL each statement gives up after `timeout_ms`."""
    await backend.local_timeout(conn, timeout_ms)
    due = webhook_messages.c.next_attempt_at
    oldest = (
        await conn.execute(
            sa.select(sa.func.min(due)).where(webhook_messages.c.status == "PENDING", due <= now)
        )
    ).scalar()
    capped = (
        sa.select(webhook_messages.c.id)
        .where(webhook_messages.c.status == "FAILED")
        .limit(failed_cap)
        .subquery()
    )
    failed = (await conn.execute(sa.select(sa.func.count()).select_from(capped))).scalar_one()
    return BacklogRecord(oldest, int(failed))
