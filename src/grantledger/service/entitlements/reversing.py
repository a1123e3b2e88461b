"""Giving an event's draws back: the appended reversal of each draw, under the usual locks.

Shared by the corrections (UNDO, REDO) and the feature holds (settle, release, expiry): the
entries the event drew from are locked in (feature, id) order, then the usage figures of their
windows (docs/design.md, lock order); the caller holds the account and has claimed the event's
correction first, so it is reversed once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from grantledger.domain.errors import NotFound
from grantledger.domain.windows import usage_window
from grantledger.service.entitlements import plan_view
from grantledger.store.entitlements import entries, event_log, usage
from grantledger.store.entitlements.entries import EntryRecord
from grantledger.store.entitlements.event_log import EventLogRecord
from grantledger.store.entitlements.usage import WindowKey
from grantledger.store.tx import Tx


async def lock_drawn(tx: Tx, event: EventLogRecord) -> dict[tuple[str, str], EntryRecord]:
    """The entries the event drew from, locked in (feature, id) order."""
    found: dict[tuple[str, str], EntryRecord] = {}
    for feature_id, entry_id in sorted({(d.feature_id, d.entry_id) for d in event.draws}):
        record = await entries.get_entry(tx, event.account_id, feature_id, entry_id, lock=True)
        if record is None:  # pragma: no cover - a draw's entry is never deleted
            raise NotFound(f"entry {entry_id} not found")
        found[(feature_id, entry_id)] = record
    return found


@dataclass(frozen=True)
class Windows:
    """The usage figures of the windows the event's plan draws count in, and each draw's."""

    figures: dict[WindowKey, Decimal]
    of_draw: dict[int, WindowKey]


async def lock_windows(tx: Tx, event: EventLogRecord, now: datetime) -> Windows:
    """Locked after the entries (the lock order)."""
    plans = await plan_view.billing_schedules(tx, event.account_id)
    of_draw: dict[int, WindowKey] = {}
    for line in event.draws:
        window = usage_window(plans, line.occurred_at) if line.plan else None
        if window is not None:
            of_draw[line.seq] = WindowKey(
                event.account_id, line.feature_id, window.begins, window.ends
            )
    figures = await usage.lock_usage(tx, list(of_draw.values()), now) if of_draw else {}
    return Windows(figures, of_draw)


async def reverse(
    tx: Tx,
    event: EventLogRecord,
    drawn: dict[tuple[str, str], EntryRecord],
    windows: Windows,
    now: datetime,
    *,
    dated: datetime | None = None,
) -> None:
    """Append a reversal of each draw; give the units back to their entries and windows.
    `dated`: when the units went back, if before `now` (a hold's expiry written late), so
    `asOf` reads them back from that instant."""
    await event_log.insert_reversals(tx, event, event.draws, dated or now)
    back: dict[tuple[str, str], Decimal] = {}
    figures = dict(windows.figures)
    for line in event.draws:
        key = (line.feature_id, line.entry_id)
        back[key] = back.get(key, Decimal(0)) + line.amount
        if line.seq in windows.of_draw:
            figures[windows.of_draw[line.seq]] -= line.amount
    for key, amount in sorted(back.items()):
        record = drawn[key]
        entry = replace(record.entry, used=record.entry.used - amount).checked()
        await entries.save_entry(tx, record, entry, now)
    await usage.save_usage(tx, figures, now)
