"""An event sent to `/entitled`, as the service takes it (its quantities: `domain/gate.py`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from grantledger.domain.passthrough import JsonObject


@dataclass(frozen=True)
class EventInput:
    schema_name: str
    id: str | None
    timestamp: datetime
    account_id: str
    attributes: Sequence[tuple[str, str]]  # (name, numeric text), as sent
    payload: JsonObject
