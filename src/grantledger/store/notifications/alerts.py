"""Alert, alert-state and incident rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from grantledger.store.backend import specialised
from grantledger.store.credits.credits import CreditRecord
from grantledger.store.credits.credits import _record as credit_record
from grantledger.store.credits.holds import HoldRecord, _with_allocations
from grantledger.store.paging import Page, fetch_page
from grantledger.store.tables import (
    accounts,
    alert_states,
    alerts,
    credit_holds,
    credits,
    feature_entries,
    incidents,
)
from grantledger.store.tx import Tx
from grantledger.store.types import money_read, utc


@dataclass(frozen=True)
class AlertRecord:
    id: str
    template_id: str
    version: int
    description: str | None
    status: str
    interval: int
    validity: int | None
    account_id: str | None
    feature_id: str | None
    threshold: Decimal | None
    window_days: int | None
    owner_details: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class IncidentRecord:
    id: str
    alert_id: str
    alert_version: int
    template_id: str
    subject_id: str
    status: str
    report_data: dict[str, Any]
    valid_until: datetime | None
    last_checked_at: datetime
    created_at: datetime
    updated_at: datetime


def _alert(row: sa.Row[Any]) -> AlertRecord:
    m = row._mapping
    return AlertRecord(**{k: m[k] for k in AlertRecord.__dataclass_fields__})


def _incident(row: sa.Row[Any]) -> IncidentRecord:
    m = row._mapping
    return IncidentRecord(**{k: m[k] for k in IncidentRecord.__dataclass_fields__})


async def insert_alert(tx: Tx, record: AlertRecord) -> None:
    values = {k: getattr(record, k) for k in AlertRecord.__dataclass_fields__}
    await tx.conn.execute(alerts.insert().values(org_id=tx.org_id, **values))


async def update_alert(tx: Tx, record: AlertRecord) -> None:
    values = {k: getattr(record, k) for k in AlertRecord.__dataclass_fields__ if k != "id"}
    await tx.conn.execute(
        alerts.update()
        .where(alerts.c.org_id == tx.org_id, alerts.c.id == record.id)
        .values(**values)
    )


async def get_alert(tx: Tx, alert_id: str, *, lock: bool = False) -> AlertRecord | None:
    query = sa.select(alerts).where(alerts.c.org_id == tx.org_id, alerts.c.id == alert_id)
    if lock:
        query = query.with_for_update()
    row = (await tx.conn.execute(query)).first()
    return _alert(row) if row else None


async def list_alerts(tx: Tx, after: str | None, limit: int) -> Page[AlertRecord]:
    query = sa.select(alerts).where(alerts.c.org_id == tx.org_id)
    page = await fetch_page(tx.conn, query, alerts.c.id, after=after, limit=limit)
    return Page([_alert(r) for r in page.items], page.last_key)


def _watching(org_id: str, account_ids: Sequence[str], template_ids: Sequence[str]) -> Any:
    """The ACTIVE alerts of these templates watching every account or one of these, unordered
    (`_in_id_order`). Two branches, one per kind of watch, so that each is a range of
    `ix_alerts_watch`: one query with `account_id IS NULL OR account_id IN (…)` reads every
    alert of the organization (of every organization, under PostgreSQL's generic plan), and an
    ORDER BY here leads SQLite to read them in the primary key's order instead."""
    mine = sa.select(alerts).where(
        alerts.c.org_id == org_id,
        alerts.c.status == "ACTIVE",
        alerts.c.template_id.in_(template_ids),
    )
    return sa.union_all(
        mine.where(alerts.c.account_id.is_(None)), mine.where(alerts.c.account_id.in_(account_ids))
    )


def _in_id_order(records: Iterable[AlertRecord]) -> list[AlertRecord]:
    """Alerts in the order of their ids' bytes, the order `pg_active_alerts_of` gives."""
    return sorted(records, key=lambda a: a.id)


async def active_alerts(tx: Tx, account_id: str, template_ids: Sequence[str]) -> list[AlertRecord]:
    """The ACTIVE alerts of these templates that watch this account (or every account)."""
    query = _watching(tx.org_id, [account_id], template_ids)
    return _in_id_order(_alert(r) for r in (await tx.conn.execute(query)).all())


@specialised
async def active_alerts_of(
    tx: Tx, account_ids: Sequence[str], template_ids: Sequence[str]
) -> list[AlertRecord]:
    """The ACTIVE alerts of these templates that watch any of these accounts (or every
    account), in id order: `active_alerts` of many accounts in one read (the gate's)."""
    query = _watching(tx.org_id, account_ids, template_ids)
    return _in_id_order(_alert(r) for r in (await tx.conn.execute(query)).all())


def alert_of_driver(r: Any) -> AlertRecord:
    """`_alert` of an asyncpg row, normalised as the column types do (owner_details comes
    decoded by the connection's json codec, as through SQLAlchemy)."""
    threshold = r["threshold"]
    values = {k: r[k] for k in AlertRecord.__dataclass_fields__}
    values["threshold"] = None if threshold is None else money_read(threshold)
    values["created_at"] = utc(r["created_at"])
    values["updated_at"] = utc(r["updated_at"])
    return AlertRecord(**values)


async def states(
    tx: Tx, alert_ids: Sequence[str], subject_ids: Sequence[str]
) -> dict[tuple[str, str], str | None]:
    """(alert id, subject id) → the incident it holds open (None: evaluated, none open)."""
    if not alert_ids or not subject_ids:
        return {}
    query = sa.select(
        alert_states.c.alert_id, alert_states.c.subject_id, alert_states.c.incident_id
    ).where(
        alert_states.c.org_id == tx.org_id,
        alert_states.c.alert_id.in_(alert_ids),
        alert_states.c.subject_id.in_(subject_ids),
    )
    return {(a, s): i for a, s, i in (await tx.conn.execute(query)).all()}


async def claim_state(
    tx: Tx, alert_id: str, subject_id: str, incident_id: str, now: datetime
) -> bool:
    """Point the (alert, subject) at a new incident unless one is held already; True if won.

    An insert that meets a concurrent one waits for it and then does nothing, and the update
    only takes a row whose incident is null: of racing writers exactly one wins.
    """
    insert: Any = tx.backend.insert(alert_states).values(
        org_id=tx.org_id,
        alert_id=alert_id,
        subject_id=subject_id,
        incident_id=incident_id,
        updated_at=now,
    )
    inserted = await tx.conn.execute(insert.on_conflict_do_nothing())
    if inserted.rowcount == 1:
        return True
    updated = await tx.conn.execute(
        alert_states.update()
        .where(
            alert_states.c.org_id == tx.org_id,
            alert_states.c.alert_id == alert_id,
            alert_states.c.subject_id == subject_id,
            alert_states.c.incident_id.is_(None),
        )
        .values(incident_id=incident_id, updated_at=now)
    )
    return bool(updated.rowcount == 1)


async def release_state(
    tx: Tx, alert_id: str, subject_id: str, incident_id: str, now: datetime
) -> bool:
    """Clear the (alert, subject)'s incident if it is still this one; True if this call did."""
    updated = await tx.conn.execute(
        alert_states.update()
        .where(
            alert_states.c.org_id == tx.org_id,
            alert_states.c.alert_id == alert_id,
            alert_states.c.subject_id == subject_id,
            alert_states.c.incident_id == incident_id,
        )
        .values(incident_id=None, updated_at=now)
    )
    return bool(updated.rowcount == 1)


async def insert_incident(tx: Tx, record: IncidentRecord) -> None:
    values = {k: getattr(record, k) for k in IncidentRecord.__dataclass_fields__}
    await tx.conn.execute(incidents.insert().values(org_id=tx.org_id, **values))


async def get_incident(tx: Tx, incident_id: str, *, lock: bool = False) -> IncidentRecord | None:
    query = sa.select(incidents).where(
        incidents.c.org_id == tx.org_id, incidents.c.id == incident_id
    )
    if lock:
        query = query.with_for_update()
    row = (await tx.conn.execute(query)).first()
    return _incident(row) if row else None


async def set_incident_status(
    tx: Tx, incident_id: str, status: str, now: datetime
) -> IncidentRecord | None:
    await tx.conn.execute(
        incidents.update()
        .where(incidents.c.org_id == tx.org_id, incidents.c.id == incident_id)
        .values(status=status, updated_at=now, last_checked_at=now)
    )
    return await get_incident(tx, incident_id)


async def list_incidents(
    tx: Tx, after: str | None, limit: int, *, alert_id: str | None, status: str | None
) -> Page[IncidentRecord]:
    query = sa.select(incidents).where(incidents.c.org_id == tx.org_id)
    if alert_id is not None:
        query = query.where(incidents.c.alert_id == alert_id)
    if status is not None:
        query = query.where(incidents.c.status == status)
    page = await fetch_page(tx.conn, query, incidents.c.id, after=after, limit=limit)
    return Page([_incident(r) for r in page.items], page.last_key)


async def org_account_ids(tx: Tx, after: str | None, limit: int) -> list[str]:
    """The organization's accounts after `after`, in id order, `limit` of them: an
    organization-wide alert judges each one, a page at a time."""
    query = sa.select(accounts.c.id).where(accounts.c.org_id == tx.org_id)
    if after is not None:
        query = query.where(accounts.c.id > after)
    query = query.order_by(accounts.c.id).limit(limit)
    return list((await tx.conn.execute(query)).scalars())


async def feature_account_ids(tx: Tx, feature_id: str, after: str | None, limit: int) -> list[str]:
    """Accounts holding entries of a feature (the subjects of an org-wide feature alert), after
    `after`, in id order, `limit` of them."""
    query = sa.select(feature_entries.c.account_id).where(
        feature_entries.c.org_id == tx.org_id, feature_entries.c.feature_id == feature_id
    )
    if after is not None:
        query = query.where(feature_entries.c.account_id > after)
    query = query.distinct().order_by(feature_entries.c.account_id).limit(limit)
    return list((await tx.conn.execute(query)).scalars())


async def accounts_with_expiring_credits(
    conn: AsyncConnection, today: date
) -> list[tuple[str, str]]:
    """(org, account) pairs with an ACTIVE credit inside an ACTIVE credit_expiring alert's
    window that the alert has not fired for yet: what the sweeper must judge as time passes."""
    fired = alert_states.alias("fired")
    query = (
        sa.select(
            credits.c.org_id, credits.c.account_id, credits.c.effective_until, alerts.c.window_days
        )
        .join(
            alerts,
            sa.and_(
                alerts.c.org_id == credits.c.org_id,
                alerts.c.template_id == "credit_expiring",
                alerts.c.status == "ACTIVE",
                sa.or_(alerts.c.account_id.is_(None), alerts.c.account_id == credits.c.account_id),
            ),
        )
        .outerjoin(
            fired,
            sa.and_(
                fired.c.org_id == credits.c.org_id,
                fired.c.alert_id == alerts.c.id,
                fired.c.subject_id == credits.c.id,
            ),
        )
        .where(
            credits.c.status == "ACTIVE",
            credits.c.effective_until.is_not(None),
            credits.c.effective_until >= today,
            fired.c.alert_id.is_(None),
        )
    )
    due = {
        (org, account)
        for org, account, until, days in (await conn.execute(query)).all()
        if until < today + timedelta(days=days)
    }
    return sorted(due)


async def recent_holds(tx: Tx, account_id: str, since: datetime) -> list[HoldRecord]:
    """Holds of the account placed or settled since an instant: candidates for hold.* events."""
    query = sa.select(credit_holds).where(
        credit_holds.c.org_id == tx.org_id,
        credit_holds.c.account_id == account_id,
        sa.or_(credit_holds.c.created_at >= since, credit_holds.c.settled_at >= since),
    )
    rows = (await tx.conn.execute(query.order_by(credit_holds.c.id))).all()
    return await _with_allocations(tx, rows)


async def recent_credits(tx: Tx, account_id: str, since: datetime) -> list[CreditRecord]:
    """Credits of the account created or changed since an instant: candidates for credit.*."""
    query = sa.select(credits).where(
        credits.c.org_id == tx.org_id,
        credits.c.account_id == account_id,
        credits.c.updated_at >= since,
    )
    return [credit_record(r) for r in await tx.conn.execute(query.order_by(credits.c.id))]
