"""Writing the journal to a file finance loads as is: CSV, JSON Lines or Parquet.

Rows are read a chunk per transaction and written as they come (Parquet: a row group per
chunk), so memory stays flat whatever the size of the export. Amounts stay exact: canonical
decimal text in CSV, JSON numbers written from the `Decimal` in JSON Lines, DECIMAL(28, 10) in
Parquet.
"""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from grantledger.domain.journal import Cursor
from grantledger.store.books.audit import AuditRow
from grantledger.store.books.journal import JournalRow

COLUMNS = (
    "cursor",
    "occurred_at",
    "recorded_at",
    "customer_id",
    "account_id",
    "kind",
    "credit_id",
    "entry_id",
    "feature_id",
    "unit",
    "amount",
    "held",
    "balance_after",
    "held_after",
    "event_id",
    "invoice_id",
    "idempotency_key",
    "request_id",
    "actor",
    "cost_basis",
)
AMOUNTS = frozenset({"amount", "held", "balance_after", "held_after", "cost_basis"})
INSTANTS = frozenset({"occurred_at", "recorded_at"})
ROW_GROUP = 10_000  # rows per Parquet row group


class Format(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"
    PARQUET = "parquet"


def flat(row: JournalRow) -> dict[str, Any]:
    """A row as the export's columns (Decimals and datetimes kept as they are)."""
    money = row.feature_id is None  # a credit's row; an entry's names its feature
    return {
        "cursor": row.cursor.text(),
        "occurred_at": row.occurred_at,
        "recorded_at": row.recorded_at,
        "customer_id": row.customer_id,
        "account_id": row.account_id,
        "kind": row.kind,
        "credit_id": row.subject if money else None,
        "entry_id": None if money else row.subject,
        "feature_id": row.feature_id,
        "unit": row.unit,
        "amount": row.amount,
        "held": row.held,
        "balance_after": row.balance_after,
        "held_after": row.held_after,
        "event_id": row.event_id,
        "invoice_id": row.invoice_id,
        "idempotency_key": row.idempotency_key,
        "request_id": row.request_id,
        "actor": row.actor,
        "cost_basis": row.cost_basis,
    }


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return str(value)


def _json_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, Decimal):
        return format(value, "f")  # a JSON number, every digit kept (never through float)
    return json.dumps(_text(value))


@dataclass(frozen=True)
class Written:
    rows: int
    last: Cursor | None  # pass it as --after to the next incremental export


@dataclass(frozen=True)
class Sheet:
    """What an export writes of each row: its columns, by name, and their types."""

    columns: tuple[str, ...]
    flat: Callable[[Any], dict[str, Any]]
    amounts: frozenset[str] = frozenset()
    instants: frozenset[str] = frozenset()
    integers: frozenset[str] = frozenset()


JOURNAL = Sheet(COLUMNS, flat, AMOUNTS, INSTANTS)


def _audit_flat(row: AuditRow) -> dict[str, Any]:
    return {
        "cursor": row.cursor.text(),
        "at": row.at,
        "actor": row.actor,
        "method": row.method,
        "route": row.route,
        "path": row.path,
        "outcome": row.outcome,
        "status": row.status,
        "request_id": row.request_id,
        "address": row.address,
    }


AUDIT = Sheet(
    (
        "cursor",
        "at",
        "actor",
        "method",
        "route",
        "path",
        "outcome",
        "status",
        "request_id",
        "address",
    ),
    _audit_flat,
    instants=frozenset({"at"}),
    integers=frozenset({"status"}),
)


async def _write_text(
    rows: AsyncIterator[Any], out: IO[str], as_csv: bool, sheet: Sheet
) -> Written:
    count, last = 0, None
    writer = csv.writer(out, lineterminator="\n") if as_csv else None
    if writer is not None:
        writer.writerow(sheet.columns)
    async for row in rows:
        values = sheet.flat(row)
        if writer is not None:
            writer.writerow([_text(values[c]) for c in sheet.columns])
        else:
            fields = ",".join(f"{json.dumps(c)}:{_json_value(values[c])}" for c in sheet.columns)
            out.write("{" + fields + "}\n")
        count, last = count + 1, row.cursor
    return Written(count, last)


def _parquet_schema(sheet: Sheet) -> Any:
    import pyarrow as pa

    def kind(column: str) -> Any:
        if column in sheet.amounts:
            return pa.decimal128(28, 10)
        if column in sheet.instants:
            return pa.timestamp("us", tz="UTC")
        if column in sheet.integers:
            return pa.int32()
        return pa.string()

    return pa.schema([pa.field(c, kind(c), nullable=True) for c in sheet.columns])


async def _write_parquet(rows: AsyncIterator[Any], path: Path, sheet: Sheet) -> Written:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _parquet_schema(sheet)
    count, last = 0, None
    batch: list[dict[str, Any]] = []
    with pq.ParquetWriter(str(path), schema) as writer:

        def flush() -> None:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
            batch.clear()

        async for row in rows:
            batch.append(sheet.flat(row))
            count, last = count + 1, row.cursor
            if len(batch) >= ROW_GROUP:
                flush()
        if batch or count == 0:
            flush()
    return Written(count, last)


def parquet_missing() -> str | None:
    """Why Parquet cannot be written here, or None."""
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        return "Parquet needs pyarrow: pip install 'grantledger[books]' (or pyarrow)"
    return None


async def write(
    rows: AsyncIterator[Any], kind: Format, path: Path, sheet: Sheet = JOURNAL
) -> Written:
    """Write `rows` (journal rows, or audit rows with `AUDIT`) to `path` as they come."""
    if kind is Format.PARQUET:
        return await _write_parquet(rows, path, sheet)
    with path.open("w", encoding="utf-8", newline="") as out:
        return await _write_text(rows, out, kind is Format.CSV, sheet)
