"""Stable hashes of request payloads, to tell an idempotent replay from a conflicting reuse."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from grantledger.domain.money import canonical


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {"$dec": canonical(value)}
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def fingerprint(payload: Any) -> str:
    text = json.dumps(_plain(payload), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
