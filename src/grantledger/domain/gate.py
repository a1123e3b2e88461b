"""The gate's per-event rules: the quantities an event asks for, what it draws, and the
duplicate answer.

The group-committed gate decides a batch of events by applying these, event after event in
arrival order, to the entries as the earlier events of the batch left them; one event alone
is a batch of one. So a batch and the same events one by one decide the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal

from grantledger.domain.cycles import MAX_REACH_BACK
from grantledger.domain.entitlements import Draw, Entry, draw
from grantledger.domain.errors import InvalidInput
from grantledger.domain.money import ZERO, check_precision, parse_quantity
from grantledger.domain.windows import (
    RolloverSource,
    group_of,
    plan_views,
    rollover_of,
    rollover_view,
    spent_rollover,
)


def named_attributes(attributes: Sequence[tuple[str, str]]) -> dict[str, str]:
    named = dict(attributes)
    if len(named) != len(attributes):
        raise InvalidInput("event attributes must have distinct names")
    return named


def quantities_of(attributes: dict[str, str], links: list[tuple[str, str]]) -> dict[str, Decimal]:
    """The quantity of each linked feature, (feature id, attribute name), from the event."""
    quantities: dict[str, Decimal] = {}
    for feature_id, attribute in links:
        raw = attributes.get(attribute)
        # An event without the attribute consumes none of the feature: associating a new
        # feature with a schema must not break producers that do not send it yet.
        quantity = parse_quantity(raw) if raw is not None else ZERO
        if quantity < 0:
            raise InvalidInput(f"attribute {attribute} must not be negative")
        check_precision(quantity, f"attribute {attribute}")
        quantities[feature_id] = quantity
    return quantities


def plan_draws(
    by_feature: Mapping[str, Sequence[Entry]], quantities: Mapping[str, Decimal], at: datetime
) -> list[tuple[str, Draw]]:
    """(feature id, draw) of every feature the event consumes, in feature order.

    Raises NotEntitled if one feature falls short: the event then draws nothing at all.
    """
    planned: list[tuple[str, Draw]] = []
    for feature_id in sorted(quantities):
        if quantities[feature_id] == 0:
            continue
        for d in draw(by_feature.get(feature_id, ()), quantities[feature_id], at, feature_id):
            planned.append((feature_id, d))
    return planned


@dataclass
class Ledger:
    """The entries of a batch's accounts as the events decided so far left them.

    Keyed by (account id, feature id); each list keeps the order it was given in and holds
    each entry's own draws. A plan entry is given out as its window leaves it
    (`windows.plan_views`): the usage of its window, kept here by (account, feature, window
    start) and raised by every draw from a plan entry of that window.
    """

    entries: dict[tuple[str, str], list[Entry]] = field(default_factory=dict)
    # (account, feature, plan entry group) → the start of its usage window.
    window_of: dict[tuple[str, str, str], datetime] = field(default_factory=dict)
    # (account, feature, ROLLOVER entry id) → what it rolls over (absent: no window rolls into
    # it any more, a spent rollover) and the start of the window its draws count against.
    rollovers: dict[tuple[str, str, str], RolloverSource] = field(default_factory=dict)
    rolled_from: dict[tuple[str, str, str], datetime] = field(default_factory=dict)
    # (account, feature, window start) → the window's usage (its plan draws).
    usage: dict[tuple[str, str, datetime], Decimal] = field(default_factory=dict)
    changed_usage: set[tuple[str, str, datetime]] = field(default_factory=set)

    def of(self, account_id: str, feature_ids: Sequence[str]) -> dict[str, list[Entry]]:
        return {f: self._shown(account_id, f) for f in feature_ids}

    def _shown(self, account_id: str, feature_id: str) -> list[Entry]:
        stored = self.entries.get((account_id, feature_id), [])
        groups: dict[str, list[Entry]] = {}
        rolled: dict[datetime, Decimal] = {}  # window start → drawn from its rollover
        for e in stored:
            group = group_of(e.id)
            origin = self.rolled_from.get((account_id, feature_id, e.id))
            if group is not None and (account_id, feature_id, group) in self.window_of:
                groups.setdefault(group, []).append(e)
            elif origin is not None:
                rolled[origin] = rolled.get(origin, ZERO) + e.used
        if not groups and not rolled and not any(rollover_of(e.id) for e in stored):
            return stored
        shown: dict[str, Entry] = {}
        for group, members in groups.items():
            begins = self.window_of[(account_id, feature_id, group)]
            used = self._usage(account_id, feature_id, begins) + rolled.get(begins, ZERO)
            shown.update((v.id, v) for v in plan_views(members, used))
        for e in stored:
            source = self.rollovers.get((account_id, feature_id, e.id))
            if source is not None:
                # The window's plan draws and what other rollovers from it drew (those a plan
                # change left behind): this one gives what remains of that one rolled amount.
                begins = source.window.begins
                others = rolled.get(begins, ZERO) - (
                    e.used
                    if self.rolled_from.get((account_id, feature_id, e.id)) == begins
                    else ZERO
                )
                used = self._usage(account_id, feature_id, begins)
                shown[e.id] = rollover_view(source, used, e, others)
            elif rollover_of(e.id):
                shown[e.id] = spent_rollover(e)
        return [shown.get(e.id, e) for e in stored]

    def _usage(self, account_id: str, feature_id: str, begins: datetime) -> Decimal:
        return self.usage.get((account_id, feature_id, begins), ZERO)

    def own_used(self, account_id: str, feature_id: str, entry_id: str) -> Decimal:
        """An entry's own draws (the stored `used`)."""
        return next(e.used for e in self.entries[(account_id, feature_id)] if e.id == entry_id)

    def is_plan(self, account_id: str, feature_id: str, entry_id: str) -> bool:
        group = group_of(entry_id)
        return group is not None and (account_id, feature_id, group) in self.window_of

    def apply(self, account_id: str, planned: Sequence[tuple[str, Draw]]) -> None:
        for feature_id, d in planned:
            shown = {e.id: e for e in self._shown(account_id, feature_id)}
            if d.amount <= 0 or d.amount > shown[d.entry_id].balance:
                raise ValueError(f"entry {d.entry_id} cannot give {d.amount}")
            entries = self.entries[(account_id, feature_id)]
            at = next(i for i, e in enumerate(entries) if e.id == d.entry_id)
            entries[at] = replace(entries[at], used=entries[at].used + d.amount).checked()
            group = group_of(d.entry_id)
            if group is not None and (account_id, feature_id, group) in self.window_of:
                key = (account_id, feature_id, self.window_of[(account_id, feature_id, group)])
                self.usage[key] = self.usage.get(key, ZERO) + d.amount
                self.changed_usage.add(key)


# How long an event id is remembered: for as long as an event with its timestamp could still be
# accepted (366 days back, a few seconds of skew ahead), so a re-send is never drawn twice.
EVENT_ID_MEMORY = MAX_REACH_BACK + timedelta(days=1)


def duplicate_message(
    event_id: str,
    accepted: bool | None,
    reason: str | None,
    *,
    account_id: str | None = None,
    original_account_id: str | None = None,
) -> str:
    """The 409 of an event id seen before (within `EVENT_ID_MEMORY`), saying how the original
    was decided (None: not known, e.g. recorded before outcomes were kept), so a caller who
    lost the first answer can tell. When the original was another account's (both accounts
    given), it says that instead: "it was accepted" would read as this account's usage
    recorded."""
    base = f"event id {event_id} was already received"
    if original_account_id is not None and account_id not in (None, original_account_id):
        return (
            f"{base} for account {original_account_id}, not {account_id}: nothing was "
            f"recorded for {account_id}; send its event with an id of its own"
        )
    if accepted is None:
        return base
    if accepted:
        return f"{base}; it was accepted"
    return f"{base}; it was refused: {reason}"
