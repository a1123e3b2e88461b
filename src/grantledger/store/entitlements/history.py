"""What `asOf` reads undo: the log of entry changes and the draws made up to an instant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from grantledger.domain.entitlements import Entry
from grantledger.store.backend import specialised
from grantledger.store.tables import draws, feature_entry_changes
from grantledger.store.tx import Tx


@dataclass(frozen=True)
class EntryState:
    """What the change log keeps of an entry, enough to put it back as it was."""

    granted: Decimal
    effective_until: datetime | None
    voided: bool

    @classmethod
    def of(cls, entry: Entry) -> EntryState:
        return cls(entry.granted, entry.effective_until, entry.voided)

    def to_json(self) -> dict[str, Any]:
        return {
            "granted": str(self.granted),
            "effectiveUntil": self.effective_until.isoformat() if self.effective_until else None,
            "voided": self.voided,
        }

    @classmethod
    def from_json(cls, stored: dict[str, Any]) -> EntryState:
        until = stored.get("effectiveUntil")
        return cls(
            granted=Decimal(stored["granted"]),
            effective_until=datetime.fromisoformat(until) if until else None,
            voided=bool(stored["voided"]),
        )


@dataclass(frozen=True)
class EntryChange:
    id: str
    account_id: str
    feature_id: str
    entry_id: str
    kind: str  # PATCH, VOID or CLOSE (a plan change)
    before: EntryState
    after: EntryState
    created_at: datetime


async def insert_change(tx: Tx, change: EntryChange) -> None:
    await tx.conn.execute(
        feature_entry_changes.insert().values(
            id=change.id,
            org_id=tx.org_id,
            account_id=change.account_id,
            feature_id=change.feature_id,
            entry_id=change.entry_id,
            change=change.kind,
            before=change.before.to_json(),
            after=change.after.to_json(),
            created_at=change.created_at,
        )
    )


async def changes_after(
    tx: Tx, account_id: str, feature_id: str, at: datetime
) -> list[EntryChange]:
    """Changes of the feature's entries made after `at`, newest first."""
    rows = await tx.conn.execute(
        sa.select(feature_entry_changes)
        .where(
            feature_entry_changes.c.org_id == tx.org_id,
            feature_entry_changes.c.account_id == account_id,
            feature_entry_changes.c.feature_id == feature_id,
            feature_entry_changes.c.created_at > at,
        )
        .order_by(feature_entry_changes.c.created_at.desc(), feature_entry_changes.c.id.desc())
    )
    return [
        EntryChange(
            id=r.id,
            account_id=r.account_id,
            feature_id=r.feature_id,
            entry_id=r.entry_id,
            kind=r.change,
            before=EntryState.from_json(r.before),
            after=EntryState.from_json(r.after),
            created_at=r.created_at,
        )
        for r in rows
    ]


@specialised
async def draws_after(tx: Tx, account_id: str, feature_id: str, at: datetime) -> dict[str, Decimal]:
    """Σ draws per entry recorded after `at` (amounts summed here: SQLite stores text; on
    PostgreSQL the server sums them, `store/pg/sums.py`).

    An entry's `used` is the sum of all its draws (`grantledger verify` checks it), so its
    `used` at `at` is today's minus these: an `asOf` read costs the draws since `at`, not every
    draw the feature ever had (`ix_draws_feature_time`).
    """
    rows = await tx.conn.execute(
        sa.select(draws.c.entry_id, draws.c.amount).where(
            *draws_since(tx, account_id, feature_id, at)
        )
    )
    since: dict[str, Decimal] = {}
    for r in rows:
        since[r.entry_id] = since.get(r.entry_id, Decimal(0)) + r.amount
    return since


def draws_since(tx: Tx, account_id: str, feature_id: str, at: datetime) -> tuple[Any, ...]:
    """The draws of an account's feature recorded after `at` (a WHERE clause)."""
    return (
        draws.c.org_id == tx.org_id,
        draws.c.account_id == account_id,
        draws.c.feature_id == feature_id,
        draws.c.created_at > at,
    )
