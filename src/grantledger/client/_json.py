"""JSON without floats: numbers parse to `Decimal`, and `Decimal` is written as an exact number."""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

__all__ = ["dumps", "format_datetime", "loads"]


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON number")


def loads(text: str | bytes) -> Any:
    """Parse JSON; every non-integer number becomes a `Decimal` (never a `float`)."""
    return json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)


def _number(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError(f"{value} cannot be sent as a JSON number")
    text = format(value, "f")
    return "0" if text in ("-0", "+0") else text


def format_datetime(value: datetime) -> str:
    """ISO-8601; UTC instants end in `Z`, naive datetimes are sent as they are (UTC)."""
    if value.tzinfo is not None and value.utcoffset() == UTC.utcoffset(None):
        return value.replace(tzinfo=None).isoformat() + "Z"
    return value.isoformat()


def _encode(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, Decimal):
        out.append(_number(value))
    elif isinstance(value, enum.Enum):
        _encode(value.value, out)
    elif isinstance(value, int):
        out.append(str(int(value)))
    elif isinstance(value, float):
        # Only reachable through free-form (Any) fields: written from its shortest repr,
        # so 0.1 goes out as 0.1, never as 0.1000000000000000055511151231257827.
        out.append(_number(Decimal(repr(value))))
    elif isinstance(value, str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, datetime):
        out.append(json.dumps(format_datetime(value)))
    elif isinstance(value, date):
        out.append(json.dumps(value.isoformat()))
    elif isinstance(value, BaseModel):
        _encode(value.model_dump(by_alias=True, exclude_none=True), out)
    elif isinstance(value, Mapping):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            if index:
                out.append(",")
            out.append(json.dumps(str(key), ensure_ascii=False))
            out.append(":")
            _encode(item, out)
        out.append("}")
    elif isinstance(value, list | tuple | set | frozenset):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def dumps(value: Any) -> str:
    """Compact JSON in which every `Decimal` appears digit for digit."""
    out: list[str] = []
    _encode(value, out)
    return "".join(out)
