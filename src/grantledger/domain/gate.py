"""The gate's per-event rules: the quantities an event asks for, what it draws, and the
duplicate answer.

The group-committed gate decides a batch of events by applying these, event after event in
arrival order, to the entries as the earlier events of the batch left them; one event alone
is a batch of one. So a batch and the same events one by one decide the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from grantledger.domain.entitlements import Draw, Entry, apply_draw, draw
from grantledger.domain.errors import InvalidInput
from grantledger.domain.money import ZERO, check_precision, parse_quantity


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

    Keyed by (account id, feature id); each list keeps the order it was given in.
    """

    entries: dict[tuple[str, str], list[Entry]] = field(default_factory=dict)

    def of(self, account_id: str, feature_ids: Sequence[str]) -> dict[str, list[Entry]]:
        return {f: self.entries.get((account_id, f), []) for f in feature_ids}

    def apply(self, account_id: str, planned: Sequence[tuple[str, Draw]]) -> None:
        for feature_id, d in planned:
            entries = self.entries[(account_id, feature_id)]
            at = next(i for i, e in enumerate(entries) if e.id == d.entry_id)
            entries[at] = apply_draw(entries[at], d.amount)


def duplicate_message(
    event_id: str,
    accepted: bool | None,
    reason: str | None,
    *,
    account_id: str | None = None,
    original_account_id: str | None = None,
) -> str:
    """The 409 of an event id seen in the last 45 days, saying how the original was decided
    (None: not known, e.g. recorded before outcomes were kept), so a caller who lost the
    first answer can tell. When the original was another account's (both accounts given),
    it says that instead: "it was accepted" would read as this account's usage recorded."""
    base = f"event id {event_id} was already received in the last 45 days"
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
