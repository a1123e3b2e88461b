"""Structured logs: one JSON object per line on stderr, for every `grantledger.*` logger."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

# Attributes every LogRecord has; anything else on a record came from `extra=` and is a field.
# uvicorn's `color_message` repeats the message with terminal colour codes: noise in a log file.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update((k, v) for k, v in vars(record).items() if k not in _STANDARD)
        if record.exc_info:
            # The trace stays in the log (never in a response), tied to its request id.
            line["exception"] = self.formatException(record.exc_info)
        # orjson: the access log writes a line per request, and the standard library's encoder
        # was a good part of its cost. An integer past 64 bits is left to the standard library.
        try:
            return orjson.dumps(line, default=str).decode()
        except orjson.JSONEncodeError:
            return json.dumps(line, default=str)


def uvicorn_config(level: str) -> dict[str, Any]:
    """A `logging.config` dict that makes uvicorn's own loggers write the same JSON lines."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"json": handler},
        "loggers": {
            name: {"handlers": ["json"], "level": level.upper(), "propagate": False}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "grantledger")
        },
    }


def configure(level: str) -> None:
    """Send `grantledger.*` records at `level` and above to stderr as JSON lines (idempotent)."""
    logger = logging.getLogger("grantledger")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False
