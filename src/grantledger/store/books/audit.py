"""The audit log: one row per mutating API request, read in commit order.

A request's row is written by the first transaction of its use case that commits (the same
transaction as the change), or, when none did (the request was refused), after the answer.
Both meet on (`org_id`, `audit_id`), so a request has exactly one row whatever happened.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from grantledger.domain.journal import Cursor
from grantledger.store.tables import audit_log
from grantledger.store.tx import Audit, Tx

APPLIED = "APPLIED"
REFUSED = "REFUSED"


@dataclass(frozen=True)
class AuditRow:
    cursor: Cursor
    at: datetime
    actor: str
    method: str
    route: str
    path: str
    outcome: str
    status: int | None
    request_id: str | None
    address: str | None


async def record(
    tx: Tx, audit: Audit, at: datetime, outcome: str, status: int | None = None
) -> None:
    """The request's row, unless it has one already (an earlier transaction of it)."""
    statement: Any = tx.backend.insert(audit_log).values(
        org_id=tx.org_id,
        tx=tx.backend.commit_order(),
        audit_id=audit.audit_id,
        at=at,
        actor=audit.actor,
        method=audit.method,
        route=audit.route,
        path=audit.path,
        outcome=outcome,
        status=status,
        request_id=audit.request_id,
        address=audit.address,
    )
    await tx.conn.execute(statement.on_conflict_do_nothing(index_elements=["org_id", "audit_id"]))


async def record_many(tx: Tx, answered: Sequence[tuple[Audit, int]], at: datetime) -> None:
    """The rows of requests a group-committed transaction answers (audit, HTTP status), in one
    statement: the gate decides up to 128 requests at once."""
    if not answered:
        return
    values = [
        {
            "org_id": tx.org_id,
            "audit_id": audit.audit_id,
            "at": audit.at,
            "actor": audit.actor,
            "method": audit.method,
            "route": audit.route,
            "path": audit.path,
            "outcome": REFUSED if status >= 400 else APPLIED,
            "status": status,
            "request_id": audit.request_id,
            "address": audit.address,
        }
        for audit, status in answered
    ]
    # One statement text for any number of rows (executemany): compiled once and cached, where
    # a multi-row VALUES of each batch's size was compiled again for every batch.
    statement: Any = tx.backend.insert(audit_log).values(tx=tx.backend.commit_order())
    await tx.conn.execute(
        statement.on_conflict_do_nothing(index_elements=["org_id", "audit_id"]), values
    )


@dataclass(frozen=True)
class AuditFilter:
    at_from: datetime | None = None
    at_to: datetime | None = None
    actor: str | None = None
    resource: str | None = None  # a part of the request's path (an id)


def _escaped(text: str) -> str:
    # LIKE's wildcards in a caller's text match themselves ("!" escapes them).
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")


async def read_after(tx: Tx, after: Cursor, limit: int, where: AuditFilter) -> list[AuditRow]:
    a = audit_log.c
    query = sa.select(audit_log).where(
        a.org_id == tx.org_id,
        sa.or_(a.tx > after.tx, sa.and_(a.tx == after.tx, a.seq > after.seq)),
        a.tx < tx.backend.settled_below(),
    )
    if where.at_from is not None:
        query = query.where(a.at >= where.at_from)
    if where.at_to is not None:
        query = query.where(a.at < where.at_to)
    if where.actor is not None:
        query = query.where(a.actor == where.actor)
    if where.resource is not None:
        query = query.where(a.path.like(f"%{_escaped(where.resource)}%", escape="!"))
    query = query.order_by(a.tx, a.seq).limit(limit)
    return [
        AuditRow(
            cursor=Cursor(r.tx, r.seq),
            at=r.at,
            actor=r.actor,
            method=r.method,
            route=r.route,
            path=r.path,
            outcome=r.outcome,
            status=r.status,
            request_id=r.request_id,
            address=r.address,
        )
        for r in await tx.conn.execute(query)
    ]
