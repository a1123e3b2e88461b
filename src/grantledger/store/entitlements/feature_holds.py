"""Feature holds: one row per hold, naming the hold event whose draws reserve its units and,
once settled, the event whose draws are what was really used."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from grantledger.domain.feature_holds import FeatureHoldStatus
from grantledger.domain.money import canonical
from grantledger.store.paging import Page, fetch_page
from grantledger.store.tables import draws, feature_holds
from grantledger.store.tx import Tx


@dataclass(frozen=True)
class FeatureHoldRecord:
    pk: str
    account_id: str
    hold_id: str
    status: FeatureHoldStatus  # as stored: a HELD row past `expires_at` shows EXPIRED
    units: dict[str, Decimal]
    settled: dict[str, Decimal] | None
    shortfall: dict[str, Decimal] | None
    request_hash: str
    event_pk: str
    settle_event_pk: str | None
    created_at: datetime
    expires_at: datetime
    closed_at: datetime | None


def units_json(units: Mapping[str, Decimal]) -> dict[str, str]:
    return {f: canonical(amount) for f, amount in sorted(units.items())}


def _units(stored: Mapping[str, Any] | None) -> dict[str, Decimal] | None:
    if stored is None:
        return None
    return {f: Decimal(str(amount)) for f, amount in stored.items()}


def _record(row: Any) -> FeatureHoldRecord:
    m = row._mapping
    return FeatureHoldRecord(
        pk=m["pk"],
        account_id=m["account_id"],
        hold_id=m["hold_id"],
        status=FeatureHoldStatus(m["status"]),
        units=_units(m["units"]) or {},
        settled=_units(m["settled"]),
        shortfall=_units(m["shortfall"]),
        request_hash=m["request_hash"],
        event_pk=m["event_pk"],
        settle_event_pk=m["settle_event_pk"],
        created_at=m["created_at"],
        expires_at=m["expires_at"],
        closed_at=m["closed_at"],
    )


async def insert_hold(tx: Tx, hold: FeatureHoldRecord) -> None:
    await tx.conn.execute(
        feature_holds.insert().values(
            org_id=tx.org_id,
            pk=hold.pk,
            account_id=hold.account_id,
            hold_id=hold.hold_id,
            status=hold.status.value,
            units=units_json(hold.units),
            request_hash=hold.request_hash,
            event_pk=hold.event_pk,
            created_at=hold.created_at,
            expires_at=hold.expires_at,
        )
    )


async def get_hold(
    tx: Tx, account_id: str, hold_id: str, *, lock: bool = False
) -> FeatureHoldRecord | None:
    query = sa.select(feature_holds).where(
        feature_holds.c.org_id == tx.org_id,
        feature_holds.c.account_id == account_id,
        feature_holds.c.hold_id == hold_id,
    )
    if lock:
        query = query.with_for_update()
    row = (await tx.conn.execute(query)).first()
    return _record(row) if row is not None else None


async def close_hold(
    tx: Tx,
    hold: FeatureHoldRecord,
    status: FeatureHoldStatus,
    at: datetime,
    *,
    settled: Mapping[str, Decimal] | None = None,
    shortfall: Mapping[str, Decimal] | None = None,
    settle_event_pk: str | None = None,
) -> bool:
    """Move a HELD hold to `status`; False when it was not HELD any more (another writer closed
    it first: the row is where they meet)."""
    done = await tx.conn.execute(
        feature_holds.update()
        .where(
            feature_holds.c.org_id == tx.org_id,
            feature_holds.c.pk == hold.pk,
            feature_holds.c.status == FeatureHoldStatus.HELD.value,
        )
        .values(
            status=status.value,
            closed_at=at,
            settled=units_json(settled) if settled is not None else None,
            shortfall=units_json(shortfall) if shortfall else None,
            settle_event_pk=settle_event_pk,
        )
    )
    return bool(done.rowcount == 1)


async def list_holds(
    tx: Tx,
    account_id: str,
    statuses: Sequence[FeatureHoldStatus] | None,
    now: datetime,
    after: str | None,
    limit: int,
) -> Page[FeatureHoldRecord]:
    """The account's holds newest first; `statuses` as shown at `now` (HELD excludes the
    expired, EXPIRED includes HELD rows past their limit)."""
    query = sa.select(feature_holds).where(
        feature_holds.c.org_id == tx.org_id, feature_holds.c.account_id == account_id
    )
    if statuses is not None:
        query = query.where(sa.or_(*(_shown_as(s, now) for s in statuses)))
    page = await fetch_page(
        tx.conn, query, feature_holds.c.pk, after=after, limit=limit, descending=True
    )
    return Page([_record(r) for r in page.items], page.last_key)


def _shown_as(status: FeatureHoldStatus, now: datetime) -> sa.ColumnElement[bool]:
    held = feature_holds.c.status == FeatureHoldStatus.HELD.value
    if status is FeatureHoldStatus.HELD:
        return sa.and_(held, feature_holds.c.expires_at > now)
    if status is FeatureHoldStatus.EXPIRED:
        return sa.or_(
            feature_holds.c.status == status.value,
            sa.and_(held, feature_holds.c.expires_at <= now),
        )
    return feature_holds.c.status == status.value


async def due_holds(tx: Tx, account_ids: Sequence[str], now: datetime) -> list[FeatureHoldRecord]:
    """The accounts' HELD holds past their limit, oldest first (what must be given back)."""
    if not account_ids:
        return []
    rows = await tx.conn.execute(
        sa.select(feature_holds)
        .where(
            feature_holds.c.org_id == tx.org_id,
            feature_holds.c.account_id.in_(sorted(set(account_ids))),
            feature_holds.c.status == FeatureHoldStatus.HELD.value,
            feature_holds.c.expires_at <= now,
        )
        .order_by(feature_holds.c.account_id, feature_holds.c.pk)
    )
    return [_record(r) for r in rows]


@dataclass(frozen=True)
class LapsedDraw:
    """A draw of a hold past its limit that no write has given back yet."""

    feature_id: str
    entry_id: str
    amount: Decimal
    occurred_at: datetime
    plan: bool


async def lapsed_draws(tx: Tx, account_id: str, at: datetime) -> list[LapsedDraw]:
    """The draws of the account's holds still HELD but past their limit at `at` (the partial
    index of open holds: usually no row)."""
    rows = await tx.conn.execute(
        sa.select(
            draws.c.feature_id, draws.c.entry_id, draws.c.amount, draws.c.occurred_at, draws.c.plan
        )
        .select_from(
            feature_holds.join(
                draws,
                sa.and_(
                    draws.c.org_id == feature_holds.c.org_id,
                    draws.c.event_pk == feature_holds.c.event_pk,
                ),
            )
        )
        .where(
            feature_holds.c.org_id == tx.org_id,
            feature_holds.c.account_id == account_id,
            feature_holds.c.status == FeatureHoldStatus.HELD.value,
            feature_holds.c.expires_at <= at,
        )
    )
    return [LapsedDraw(r.feature_id, r.entry_id, r.amount, r.occurred_at, r.plan) for r in rows]


async def accounts_with_due_holds(
    conn: AsyncConnection, now: datetime, limit: int
) -> list[tuple[str, str]]:
    """(org, account) pairs, over every organization, with HELD holds past their limit (the
    sweeper's; a read of the partial index of open holds)."""
    rows = await conn.execute(
        sa.select(feature_holds.c.org_id, feature_holds.c.account_id)
        .where(
            feature_holds.c.status == FeatureHoldStatus.HELD.value,
            feature_holds.c.expires_at <= now,
        )
        .group_by(feature_holds.c.org_id, feature_holds.c.account_id)
        .order_by(feature_holds.c.org_id, feature_holds.c.account_id)
        .limit(limit)
    )
    return [(r.org_id, r.account_id) for r in rows]


async def held_units(tx: Tx, account_id: str, feature_id: str, at: datetime) -> Decimal:
    """Σ units of the feature the account's holds reserve at `at`: placed by then, not closed
    (settled, released, expired) by then, not past their limit."""
    total = await tx.conn.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(draws.c.amount), 0))
        .select_from(
            feature_holds.join(
                draws,
                sa.and_(
                    draws.c.org_id == feature_holds.c.org_id,
                    draws.c.event_pk == feature_holds.c.event_pk,
                ),
            )
        )
        .where(
            feature_holds.c.org_id == tx.org_id,
            feature_holds.c.account_id == account_id,
            feature_holds.c.created_at <= at,
            feature_holds.c.expires_at > at,
            sa.or_(feature_holds.c.closed_at.is_(None), feature_holds.c.closed_at > at),
            draws.c.feature_id == feature_id,
        )
    )
    return Decimal(str(total or 0))
