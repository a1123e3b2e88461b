"""Every log line is one JSON object, whatever a record carries in `extra`."""

from __future__ import annotations

import json
import logging
from decimal import Decimal

from grantledger.logs import JsonFormatter


def _line(**extra: object) -> dict[str, object]:
    record = logging.makeLogRecord({"name": "grantledger.t", "msg": "m %s", "args": (1,)})
    record.__dict__.update(extra)
    parsed: dict[str, object] = json.loads(JsonFormatter().format(record))
    return parsed


def test_fields_and_values_that_json_lacks_are_written_as_text() -> None:
    line = _line(request_id="r1", amount=Decimal("0.1000000001"), ms=1.5)
    assert line["message"] == "m 1" and line["request_id"] == "r1"
    assert line["amount"] == "0.1000000001" and line["ms"] == 1.5


def test_an_integer_past_64_bits_still_makes_a_line() -> None:
    assert _line(big=2**70)["big"] == 2**70
