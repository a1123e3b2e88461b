"""Field types of the wire: exact amounts, strict dates, UTC datetimes, camelCase models."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel

from grantledger.domain.errors import InvalidInput
from grantledger.domain.money import to_amount
from grantledger.domain.passthrough import JsonObject

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _amount(allow_zero: bool) -> Any:
    def check(value: object) -> Decimal:
        try:
            return to_amount(value, "amount", allow_zero=allow_zero)
        except InvalidInput as exc:
            raise ValueError(exc.message.removeprefix("amount ")) from exc

    return check


# A JSON number parsed straight into Decimal; strings, floats, NaN and negatives are refused.
PositiveAmount = Annotated[
    Decimal,
    BeforeValidator(_amount(False)),
    WithJsonSchema({"type": "number", "exclusiveMinimum": 0}),
]
NonNegativeAmount = Annotated[
    Decimal, BeforeValidator(_amount(True)), WithJsonSchema({"type": "number", "minimum": 0})
]
# Output amounts: the JSON encoder writes them as exact numbers.
Amount = Annotated[Decimal, WithJsonSchema({"type": "number"})]


def _strict_date(value: object) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _DATE.match(value):
        raise ValueError("must be a date written YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{value} is not a calendar date") from exc


def _utc_datetime(value: object) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError as exc:
            raise ValueError("must be an ISO-8601 datetime such as 2024-01-01T00:00:00Z") from exc
    else:
        raise ValueError("must be an ISO-8601 datetime string")
    try:
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError as exc:
        # An offset can push 0001-01-01 or 9999-12-31 past the calendar's ends in UTC.
        raise ValueError("must fall between 0001-01-01 and 9999-12-31 once in UTC") from exc


WireDate = Annotated[
    date, BeforeValidator(_strict_date), WithJsonSchema({"type": "string", "format": "date"})
]
# Datetimes without an offset are UTC (the official client sends naive ISO strings).
WireDateTime = Annotated[
    datetime,
    BeforeValidator(_utc_datetime),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


def _id_text(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


NonBlank = AfterValidator(_id_text)


class RequestModel(BaseModel):
    """Request bodies: camelCase names only, unknown fields refused, no type coercion."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=False, extra="forbid", strict=True
    )


class ResponseModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


def dump(model: BaseModel) -> JsonObject:
    """The wire dict of a response model: camelCase, optional fields omitted when empty."""
    return model.model_dump(by_alias=True, exclude_none=True)


def parse_as_of(raw: str | None) -> datetime | None:
    """The `asOf` query parameter: an ISO-8601 instant (a bare date is 00:00Z)."""
    if raw is None:
        return None
    try:
        return _instant.validate_python(raw)
    except ValidationError as exc:
        raise InvalidInput(
            "asOf must be an ISO-8601 datetime such as 2024-01-01T00:00:00Z"
        ) from exc


def parse_instant(raw: str | None, name: str) -> datetime | None:
    """A query parameter `name` that is an ISO-8601 instant (a bare date is 00:00Z)."""
    if raw is None:
        return None
    try:
        return _instant.validate_python(raw)
    except ValidationError as exc:
        raise InvalidInput(
            f"{name} must be an ISO-8601 datetime such as 2024-01-01T00:00:00Z"
        ) from exc


_instant = TypeAdapter(WireDateTime)


def unknown_query(given: Iterable[str], accepted: Sequence[str], where: str) -> str | None:
    """The 400 message for query parameters `where` (a route or page) does not take, naming
    them and what it takes; None when every one is taken. A misspelt filter must never be
    ignored: `GET /credits?accountId=…` would answer every account's credits."""
    unknown = list(dict.fromkeys(name for name in given if name not in accepted))
    if not unknown:
        return None
    named = ", ".join(repr(name) for name in unknown)
    plural = "s" if len(unknown) > 1 else ""
    takes = f"takes {', '.join(accepted)}" if accepted else "takes no query parameters"
    return f"unknown query parameter{plural} {named}: {where} {takes}"
