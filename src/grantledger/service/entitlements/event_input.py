"""An event sent to `/entitled`, as the service takes it, and the quantities it asks for."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from grantledger.domain.errors import InvalidInput
from grantledger.domain.money import ZERO, check_precision, round_fraction
from grantledger.domain.passthrough import JsonObject


@dataclass(frozen=True)
class EventInput:
    schema_name: str
    id: str | None
    timestamp: datetime
    account_id: str
    attributes: Sequence[tuple[str, str]]  # (name, numeric text), as sent
    payload: JsonObject


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
        quantity = round_fraction(Decimal(raw)) if raw is not None else ZERO
        if quantity < 0:
            raise InvalidInput(f"attribute {attribute} must not be negative")
        check_precision(quantity, f"attribute {attribute}")
        quantities[feature_id] = quantity
    return quantities
