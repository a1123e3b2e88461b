"""Feature credit entries: what an account may use of a feature, and from when until when."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from grantledger.domain.entitlements import Entry, EntrySource
from grantledger.domain.journal import JournalKind
from grantledger.store.backend import specialised
from grantledger.store.books.journal import EntryMove, append_entry_moves
from grantledger.store.paging import Page, fetch_page
from grantledger.store.tables import feature_entries
from grantledger.store.tx import Tx
from grantledger.store.types import UTCDateTime, money_read, utc

_at = sa.bindparam("at", type_=UTCDateTime())


@dataclass(frozen=True)
class EntryRecord:
    entry: Entry
    account_id: str
    feature_id: str
    row_key: str
    idempotency_key: str | None
    request_hash: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def new(
        cls,
        entry: Entry,
        account_id: str,
        feature_id: str,
        row_key: str,
        at: datetime,
        *,
        created_at: datetime | None = None,
        idempotency_key: str | None = None,
        request_hash: str | None = None,
    ) -> EntryRecord:
        """An entry about to be inserted at `at` (created earlier when it is back-dated)."""
        return cls(
            entry=entry,
            account_id=account_id,
            feature_id=feature_id,
            row_key=row_key,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            created_at=created_at or at,
            updated_at=at,
        )


def entry_record(row: sa.Row[Any]) -> EntryRecord:
    return entry_record_of(row._mapping)


def entry_record_of(m: Mapping[Any, Any]) -> EntryRecord:
    """The record of a row's values, from SQLAlchemy or the driver (`store/pg/driver.py`): amounts
    and instants normalised as the column types do (already so through SQLAlchemy)."""
    until, carried = m["effective_until"], m["carried"]
    return EntryRecord(
        entry=Entry(
            id=m["id"],
            source=EntrySource(m["source"]),
            effective_from=utc(m["effective_from"]),
            effective_until=None if until is None else utc(until),
            granted=money_read(m["granted"]),
            used=money_read(m["used"]),
            voided=m["voided_at"] is not None,
            carried=Decimal(0) if carried is None else money_read(carried),
        ),
        account_id=m["account_id"],
        feature_id=m["feature_id"],
        row_key=m["row_key"],
        idempotency_key=m["idempotency_key"],
        request_hash=m["request_hash"],
        created_at=utc(m["created_at"]),
        updated_at=utc(m["updated_at"]),
    )


def _values(org_id: str, record: EntryRecord) -> dict[str, Any]:
    e = record.entry
    return {
        "org_id": org_id,
        "account_id": record.account_id,
        "feature_id": record.feature_id,
        "id": e.id,
        "row_key": record.row_key,
        "source": e.source.value,
        "effective_from": e.effective_from,
        "effective_until": e.effective_until,
        "granted": e.granted,
        "used": e.used,
        "carried": e.carried or None,
        "voided_at": None,
        "idempotency_key": record.idempotency_key,
        "request_hash": record.request_hash,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


_INSERT_CHUNK = 500


async def insert_entries(
    tx: Tx,
    records: Sequence[EntryRecord],
    *,
    ignore_existing: bool,
    kind: JournalKind,
    cost_basis: Decimal | None = None,
) -> None:
    """Insert entries and journal each one inserted as a grant of `kind`; with
    `ignore_existing`, entries already there are left as they are (and not journaled again)."""
    if not records:
        return
    rows = [_values(tx.org_id, r) for r in records]
    if not ignore_existing:
        await tx.conn.execute(feature_entries.insert(), rows)
        inserted = list(records)
    else:
        made: set[tuple[str, str, str]] = set()
        # A back-dated schedule can add thousands of cycle entries at once; one multi-row
        # statement of them all would pass the drivers' bound-parameter limits (32767 for asyncpg).
        for start in range(0, len(rows), _INSERT_CHUNK):
            statement = tx.backend.insert(feature_entries).values(
                rows[start : start + _INSERT_CHUNK]
            )
            # Only the rows this statement inserted come back: a concurrent maker's are its own.
            result = await tx.conn.execute(
                statement.on_conflict_do_nothing(
                    index_elements=["org_id", "account_id", "feature_id", "id"]
                ).returning(
                    feature_entries.c.account_id, feature_entries.c.feature_id, feature_entries.c.id
                )
            )
            made.update((row.account_id, row.feature_id, row.id) for row in result)
        inserted = [r for r in records if (r.account_id, r.feature_id, r.entry.id) in made]
    await append_entry_moves(
        tx,
        [
            EntryMove(
                r.account_id,
                r.feature_id,
                r.entry.id,
                kind,
                r.entry.granted,
                r.entry.effective_from,
                idempotency_key=r.idempotency_key,
                opens=True,
                cost_basis=cost_basis,
            )
            for r in inserted
        ],
        max(r.created_at for r in records),
    )


def _entries_of(org_id: str, account_id: str) -> sa.Select[Any]:
    return sa.select(feature_entries).where(
        feature_entries.c.org_id == org_id, feature_entries.c.account_id == account_id
    )


async def get_entry(
    tx: Tx, account_id: str, feature_id: str, entry_id: str, *, lock: bool = False
) -> EntryRecord | None:
    query = _entries_of(tx.org_id, account_id).where(
        feature_entries.c.feature_id == feature_id, feature_entries.c.id == entry_id
    )
    if lock:
        query = query.with_for_update()
    row = (await tx.conn.execute(query)).first()
    return entry_record(row) if row else None


_PRESENT = sa.select(
    feature_entries.c.account_id, feature_entries.c.feature_id, feature_entries.c.id
).where(
    feature_entries.c.org_id == sa.bindparam("org_id"),
    feature_entries.c.account_id.in_(sa.bindparam("account_ids", expanding=True)),
    feature_entries.c.id.in_(sa.bindparam("ids", expanding=True)),
)


async def present_entries(
    tx: Tx, account_ids: Sequence[str], entry_ids: Sequence[str]
) -> set[tuple[str, str, str]]:
    """(account, feature, entry id) of the entries with these ids that these accounts hold:
    a read by key, whatever the accounts' history. On PostgreSQL a fixed text on the driver
    (the gate's)."""
    if not account_ids or not entry_ids:
        return set()
    return await present_sorted(tx, sorted(set(account_ids)), sorted(set(entry_ids)))


@specialised
async def present_sorted(tx: Tx, accounts: list[str], ids: list[str]) -> set[tuple[str, str, str]]:
    """`present_entries` of distinct accounts and ids in sorted order."""
    params = {"org_id": tx.org_id, "account_ids": accounts, "ids": ids}
    rows = await tx.conn.execute(_PRESENT, params)
    return {(r.account_id, r.feature_id, r.id) for r in rows}


async def rollover_ids_of(
    tx: Tx, account_ids: Sequence[str], feature_ids: Sequence[str]
) -> list[str]:
    """The ids of the stored ROLLOVER entries of these accounts' features
    (`ix_feature_entries_rollover`: a read of those entries only)."""
    rows = await tx.conn.execute(
        sa.select(feature_entries.c.id).where(
            feature_entries.c.org_id == tx.org_id,
            feature_entries.c.account_id.in_(sorted(set(account_ids))),
            feature_entries.c.feature_id.in_(sorted(set(feature_ids))),
            feature_entries.c.source == "ROLLOVER",
        )
    )
    return sorted(set(rows.scalars()))


async def rollover_entries(tx: Tx, account_id: str, feature_id: str) -> list[EntryRecord]:
    """The feature's stored ROLLOVER entries (few: one per closed window that rolled over and
    was drawn from)."""
    query = _entries_of(tx.org_id, account_id).where(
        feature_entries.c.feature_id == feature_id, feature_entries.c.source == "ROLLOVER"
    )
    return [entry_record(r) for r in await tx.conn.execute(query)]


async def entry_by_key(tx: Tx, key: str) -> EntryRecord | None:
    query = sa.select(feature_entries).where(
        feature_entries.c.org_id == tx.org_id, feature_entries.c.idempotency_key == key
    )
    row = (await tx.conn.execute(query)).first()
    return entry_record(row) if row else None


async def account_entries(
    tx: Tx,
    account_id: str,
    feature_ids: Sequence[str] | None = None,
    *,
    effective_at: datetime | None = None,
    lock: bool = False,
) -> list[EntryRecord]:
    """Entries of an account (optionally only those usable at an instant), in lock order."""
    query = _account_entries_query(feature_ids is not None, effective_at is not None, lock)
    params: dict[str, Any] = {"org_id": tx.org_id, "account_id": account_id}
    if feature_ids is not None:
        params["feature_ids"] = list(feature_ids)
    if effective_at is not None:
        params["at"] = effective_at
    return [entry_record(r) for r in await tx.conn.execute(query, params)]


# Built once per shape, with bound parameters: building a SQLAlchemy statement and its cache
# key on every call of the real-time gate cost more CPU than executing it.
@functools.cache
def _account_entries_query(by_feature: bool, usable: bool, lock: bool) -> sa.Select[Any]:
    query = sa.select(feature_entries).where(
        feature_entries.c.org_id == sa.bindparam("org_id"),
        feature_entries.c.account_id == sa.bindparam("account_id"),
    )
    if by_feature:
        query = query.where(
            feature_entries.c.feature_id.in_(sa.bindparam("feature_ids", expanding=True))
        )
    if usable:
        query = query.where(
            feature_entries.c.voided_at.is_(None),
            feature_entries.c.effective_from <= _at,
            sa.or_(
                feature_entries.c.effective_until.is_(None),
                feature_entries.c.effective_until > _at,
            ),
        )
    query = query.order_by(feature_entries.c.feature_id, feature_entries.c.id)
    return query.with_for_update() if lock else query


async def entries_around(
    tx: Tx, account_id: str, feature_id: str, at: datetime, also: Sequence[str]
) -> list[EntryRecord]:
    """The feature's entries whose current window holds `at` (voided ones included), and the
    entries `also` named: what an `asOf` read needs, however many cycles the account has had.

    An entry's start never changes; its end and void may have changed since `at`, which is
    why the caller names the entries changed after `at` in `also`.
    """
    query = _entries_of(tx.org_id, account_id).where(
        feature_entries.c.feature_id == feature_id,
        sa.or_(
            sa.and_(
                feature_entries.c.effective_from <= at,
                sa.or_(
                    feature_entries.c.effective_until.is_(None),
                    feature_entries.c.effective_until > at,
                ),
            ),
            feature_entries.c.id.in_(list(also)),
        ),
    )
    return [entry_record(r) for r in await tx.conn.execute(query)]


async def list_entries(
    tx: Tx, account_id: str, feature_id: str, after: str | None, limit: int
) -> Page[EntryRecord]:
    query = _entries_of(tx.org_id, account_id).where(feature_entries.c.feature_id == feature_id)
    page = await fetch_page(
        tx.conn, query, feature_entries.c.row_key, after=after, limit=limit, descending=True
    )
    return Page([entry_record(r) for r in page.items], page.last_key)


async def save_entry(tx: Tx, record: EntryRecord, entry: Entry, at: datetime) -> None:
    values: dict[str, Any] = {
        "granted": entry.granted,
        "used": entry.used,
        "effective_until": entry.effective_until,
        "updated_at": at,
    }
    if entry.voided and not record.entry.voided:
        values["voided_at"] = at
    await tx.conn.execute(
        feature_entries.update()
        .where(
            feature_entries.c.org_id == tx.org_id,
            feature_entries.c.account_id == record.account_id,
            feature_entries.c.feature_id == record.feature_id,
            feature_entries.c.id == entry.id,
        )
        .values(**values)
    )
