"""Changing a stored entry: PATCH, VOID, or CLOSE when a plan change ends its cycle early.

Every change is logged with the entry's state before and after, so `asOf` reads can undo it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from grantledger.domain.entitlements import Entry
from grantledger.domain.journal import JournalKind
from grantledger.service.context import Tenant
from grantledger.service.notifications import notify
from grantledger.store.books import journal as entry_books
from grantledger.store.books.journal import EntryMove
from grantledger.store.entitlements import entries, history
from grantledger.store.entitlements.entries import EntryRecord
from grantledger.store.entitlements.history import EntryChange, EntryState
from grantledger.store.tx import Tx


async def change_entry(
    tenant: Tenant, tx: Tx, record: EntryRecord, changed: Entry, kind: str, now: datetime
) -> None:
    """Save a changed entry and log the change (PATCH, VOID or CLOSE) for `asOf` reads."""
    await entries.save_entry(tx, record, changed, now)
    await history.insert_change(
        tx,
        EntryChange(
            id=tenant.new_id("fcc", now),
            account_id=record.account_id,
            feature_id=record.feature_id,
            entry_id=record.entry.id,
            kind=kind,
            before=EntryState.of(record.entry),
            after=EntryState.of(changed),
            created_at=now,
        ),
    )
    await entry_books.append_entry_moves(tx, _moves(record, changed, kind, now), now)
    await notify.after_change(tenant, tx, features=[(record.account_id, record.feature_id)])


def _moves(record: EntryRecord, changed: Entry, kind: str, now: datetime) -> list[EntryMove]:
    """The journal rows of a change: a new `granted` adjusts the entry's balance; a void
    takes off what was left of it. A CLOSE only moves the entry's end: no amount moves."""
    moves: list[EntryMove] = []

    def move(journal_kind: JournalKind, amount: Decimal) -> EntryMove:
        return EntryMove(
            record.account_id, record.feature_id, record.entry.id, journal_kind, amount, now
        )

    if changed.granted != record.entry.granted:
        moves.append(move(JournalKind.ADJUSTMENT, changed.granted - record.entry.granted))
    if kind == "VOID" and changed.granted - changed.used:
        moves.append(move(JournalKind.VOID, -(changed.granted - changed.used)))
    return moves
