"""The events the gate and the ingestion judged, their draws, and their corrections: the rows
the events list reads and a correction appends (a reversal per draw; the draws stay)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from grantledger.domain.corrections import GRACE_MARK, Source, StatusFilter
from grantledger.domain.journal import reversal_kind
from grantledger.store.books.journal import EntryMove, append_entry_moves
from grantledger.store.paging import Page, fetch_page
from grantledger.store.tables import (
    accounts,
    customers,
    draws,
    event_corrections,
    events,
    feature_schemas,
    reversals,
)
from grantledger.store.tx import Tx


@dataclass(frozen=True)
class DrawLine:
    seq: int
    feature_id: str
    entry_id: str
    amount: Decimal
    occurred_at: datetime
    plan: bool


@dataclass(frozen=True)
class Correction:
    action: str
    replacement_pk: str | None
    actor: str | None
    created_at: datetime


@dataclass(frozen=True)
class Party:
    account_name: str
    customer_id: str
    customer_name: str | None
    invoice_currency: str


@dataclass(frozen=True)
class EventLogRecord:
    """One judged event: as received, how it was decided, what it drew, and its correction."""

    pk: str  # the reference id
    event_id: str
    account_id: str
    schema_name: str
    timestamp: datetime
    accepted: bool
    reason: str | None
    payload: dict[str, Any]
    received_at: datetime
    source: str
    shortfall: dict[str, Decimal]
    draws: tuple[DrawLine, ...] = ()
    correction: Correction | None = None
    # Who it belongs to and which attribute meters each feature, as they stand when read.
    party: Party | None = None
    mapped: dict[str, str] = field(default_factory=dict)

    @property
    def reverted(self) -> bool:
        return self.correction is not None


def _event(row: Any) -> EventLogRecord:
    m = row._mapping
    short = m["shortfall"] or {}
    return EventLogRecord(
        pk=m["id"],
        event_id=m["event_id"],
        account_id=m["account_id"],
        schema_name=m["schema_name"],
        timestamp=m["timestamp"],
        accepted=bool(m["accepted"]),
        reason=m["reason"],
        payload=m["payload"],
        received_at=m["received_at"],
        source=m["source"] or "ENTITLED",
        shortfall={f: Decimal(str(amount)) for f, amount in short.items()},
    )


async def _filled(tx: Tx, found: Sequence[EventLogRecord]) -> list[EventLogRecord]:
    """The events with their draws and corrections (two reads, whatever the page)."""
    if not found:
        return []
    pks = [e.pk for e in found]
    lines: dict[str, list[DrawLine]] = {}
    rows = await tx.conn.execute(
        sa.select(draws)
        .where(draws.c.org_id == tx.org_id, draws.c.event_pk.in_(pks))
        .order_by(draws.c.event_pk, draws.c.seq)
    )
    for r in rows:
        lines.setdefault(r.event_pk, []).append(
            DrawLine(r.seq, r.feature_id, r.entry_id, r.amount, r.occurred_at, r.plan)
        )
    corrected = {
        r.event_pk: Correction(r.action, r.replacement_pk, r.actor, r.created_at)
        for r in await tx.conn.execute(
            sa.select(event_corrections).where(
                event_corrections.c.org_id == tx.org_id, event_corrections.c.event_pk.in_(pks)
            )
        )
    }
    parties = await _parties(tx, sorted({e.account_id for e in found}))
    mapped = await _mapped(tx, sorted({e.schema_name for e in found}))
    return [
        replace(
            e,
            draws=tuple(lines.get(e.pk, ())),
            correction=corrected.get(e.pk),
            party=parties.get(e.account_id),
            mapped=mapped.get(e.schema_name, {}),
        )
        for e in found
    ]


async def _parties(tx: Tx, account_ids: Sequence[str]) -> dict[str, Party]:
    rows = await tx.conn.execute(
        sa.select(
            accounts.c.id,
            accounts.c.name,
            accounts.c.customer_id,
            accounts.c.invoice_currency,
            customers.c.name.label("customer_name"),
        )
        .select_from(
            accounts.outerjoin(
                customers,
                sa.and_(
                    customers.c.org_id == accounts.c.org_id,
                    customers.c.id == accounts.c.customer_id,
                ),
            )
        )
        .where(accounts.c.org_id == tx.org_id, accounts.c.id.in_(account_ids))
    )
    return {r.id: Party(r.name, r.customer_id, r.customer_name, r.invoice_currency) for r in rows}


async def _mapped(tx: Tx, schema_names: Sequence[str]) -> dict[str, dict[str, str]]:
    """Per schema, the attribute that meters each feature."""
    rows = await tx.conn.execute(
        sa.select(
            feature_schemas.c.schema_name,
            feature_schemas.c.feature_id,
            feature_schemas.c.attribute_name,
        ).where(
            feature_schemas.c.org_id == tx.org_id, feature_schemas.c.schema_name.in_(schema_names)
        )
    )
    found: dict[str, dict[str, str]] = {}
    for r in rows:
        found.setdefault(r.schema_name, {})[r.feature_id] = r.attribute_name
    return found


async def get_event(tx: Tx, pk: str) -> EventLogRecord | None:
    row = (
        await tx.conn.execute(
            sa.select(events).where(events.c.org_id == tx.org_id, events.c.id == pk)
        )
    ).first()
    return (await _filled(tx, [_event(row)]))[0] if row is not None else None


async def latest_of(tx: Tx, account_id: str, event_id: str) -> EventLogRecord | None:
    """The account's standing judgement of an event id: the one not corrected (a REDO judged
    it again), else the latest."""
    corrected = sa.exists().where(
        event_corrections.c.org_id == events.c.org_id,
        event_corrections.c.event_pk == events.c.id,
    )
    row = (
        await tx.conn.execute(
            sa.select(events)
            .where(
                events.c.org_id == tx.org_id,
                events.c.event_id == event_id,
                events.c.account_id == account_id,
                _not_a_hold(),
            )
            .order_by(corrected, events.c.received_at.desc(), events.c.id.desc())
            .limit(1)
        )
    ).first()
    return (await _filled(tx, [_event(row)]))[0] if row is not None else None


def _not_a_hold() -> sa.ColumnElement[bool]:
    """A feature hold's reservation is not usage: the hold shows it (`/feature_holds`), its
    settlement is the event listed, and only settling or releasing the hold gives it back."""
    return sa.or_(events.c.source.is_(None), events.c.source != Source.HOLD.value)


@dataclass(frozen=True)
class EventFilter:
    account_id: str | None = None
    schema_name: str | None = None
    status: StatusFilter = field(default_factory=StatusFilter)


async def list_events(
    tx: Tx, where: EventFilter, after: str | None, limit: int
) -> Page[EventLogRecord]:
    """The organization's judged events, newest first (reference ids are time-ordered)."""
    query = sa.select(events).where(events.c.org_id == tx.org_id, _not_a_hold())
    if where.account_id is not None:
        query = query.where(events.c.account_id == where.account_id)
    if where.schema_name is not None:
        query = query.where(events.c.schema_name == where.schema_name)
    status = where.status
    if status.accepted is not None:
        query = query.where(events.c.accepted.is_(status.accepted))
    if status.reverted is not None:
        corrected = sa.exists().where(
            event_corrections.c.org_id == events.c.org_id,
            event_corrections.c.event_pk == events.c.id,
        )
        query = query.where(corrected if status.reverted else ~corrected)
    if status.metered is not None:
        drew = sa.exists().where(draws.c.org_id == events.c.org_id, draws.c.event_pk == events.c.id)
        metered = sa.or_(drew, events.c.shortfall.is_not(None))
        query = query.where(metered if status.metered else ~metered)
    if status.past_grace is not None:
        late = sa.func.coalesce(events.c.reason, "").contains(GRACE_MARK)
        query = query.where(late if status.past_grace else ~late)
    page = await fetch_page(tx.conn, query, events.c.id, after=after, limit=limit, descending=True)
    return Page(await _filled(tx, [_event(r) for r in page.items]), page.last_key)


async def claim_correction(
    tx: Tx, event_pk: str, action: str, actor: str | None, at: datetime
) -> bool:
    """Mark the event corrected; False when it already was (its key is where concurrent
    corrections meet: one wins)."""
    insert: Any = tx.backend.insert(event_corrections).values(
        org_id=tx.org_id, event_pk=event_pk, action=action, actor=actor, created_at=at
    )
    done = await tx.conn.execute(insert.on_conflict_do_nothing())
    return bool(done.rowcount == 1)


async def set_replacement(tx: Tx, event_pk: str, replacement_pk: str) -> None:
    await tx.conn.execute(
        event_corrections.update()
        .where(event_corrections.c.org_id == tx.org_id, event_corrections.c.event_pk == event_pk)
        .values(replacement_pk=replacement_pk)
    )


async def insert_reversals(
    tx: Tx, event: EventLogRecord, lines: Sequence[DrawLine], at: datetime
) -> None:
    if not lines:
        return
    await tx.conn.execute(
        reversals.insert(),
        [
            {
                "org_id": tx.org_id,
                "event_pk": event.pk,
                "seq": line.seq,
                "account_id": event.account_id,
                "feature_id": line.feature_id,
                "entry_id": line.entry_id,
                "amount": line.amount,
                "occurred_at": line.occurred_at,
                "plan": line.plan,
                "created_at": at,
            }
            for line in lines
        ],
    )
    await append_entry_moves(
        tx,
        [
            EntryMove(
                event.account_id,
                line.feature_id,
                line.entry_id,
                reversal_kind(event.source),
                line.amount,
                at,
                event_id=event.event_id,
            )
            for line in lines
        ],
        at,
    )


async def reversed_after(
    tx: Tx, account_id: str, feature_id: str, at: datetime
) -> dict[str, Decimal]:
    """Σ reversals per entry recorded after `at` (what `asOf` gives back to `used`)."""
    rows = await tx.conn.execute(
        sa.select(reversals.c.entry_id, reversals.c.amount).where(
            reversals.c.org_id == tx.org_id,
            reversals.c.account_id == account_id,
            reversals.c.feature_id == feature_id,
            reversals.c.created_at > at,
        )
    )
    found: dict[str, Decimal] = {}
    for r in rows:
        found[r.entry_id] = found.get(r.entry_id, Decimal(0)) + r.amount
    return found


def shortfall_json(shortfall: Mapping[str, Decimal]) -> dict[str, str] | None:
    return {f: str(amount) for f, amount in shortfall.items()} or None
