"""Column types that keep money exact and instants in UTC on both SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from grantledger.domain.money import canonical


class Money(sa.types.TypeDecorator[Decimal]):
    """NUMERIC(28, 10) on PostgreSQL; canonical decimal text on SQLite (whose REAL is a float)."""

    impl = sa.Numeric(28, 10, asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(40))
        return dialect.type_descriptor(sa.Numeric(28, 10, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = money_bind(value)
        return canonical(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else money_read(value)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware instants; SQLite keeps naive UTC text, so tz is re-attached on read."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else utc(value)


# The conversions above as plain functions, for the statements `store/pg/driver.py` runs on
# asyncpg without SQLAlchemy's types: a value read or written there is normalised alike.


def money_bind(value: Any) -> Decimal:
    """A money value about to be written: a Decimal, never a float."""
    if not isinstance(value, Decimal):
        raise TypeError(f"money columns take Decimal, got {type(value).__name__}")
    return value


def money_read(value: Any) -> Decimal:
    """A NUMERIC value as the ledger keeps it: exact, without representation noise."""
    return Decimal(canonical(Decimal(value)))


def utc(instant: datetime) -> datetime:
    """An aware UTC instant (a naive one is taken to be UTC already)."""
    if instant.tzinfo is None:
        return instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC)


def json_text(value: Any) -> str:
    """JSON text of a JSON column's value, Decimals written exactly (never through a float).

    orjson refuses integers beyond 64 bits, which a client may send in an event's payload;
    those are written by the standard library, as SQLAlchemy's own serializer does.
    """
    try:
        return orjson.dumps(value, default=_exact_decimal).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value)


def _exact_decimal(value: object) -> Any:
    if isinstance(value, Decimal):
        return orjson.Fragment(canonical(value))
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")
