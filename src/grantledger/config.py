"""Settings read from the environment, in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass

from grantledger.store.engine import DatabaseOptions

DEFAULT_SQLITE_URL = "sqlite:///./data/grantledger.db"


@dataclass(frozen=True)
class Settings:
    database_url: str
    bootstrap_key: str | None
    sweep_interval_seconds: float  # float-ok: seconds, not money
    log_level: str
    # Database faults and settings (docs/operations.md): every wait on the database is bounded.
    database: DatabaseOptions

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=os.environ.get("GRANTLEDGER_DATABASE_URL", DEFAULT_SQLITE_URL),
            bootstrap_key=os.environ.get("GRANTLEDGER_BOOTSTRAP_KEY") or None,
            sweep_interval_seconds=_seconds("GRANTLEDGER_SWEEP_INTERVAL", "60"),
            log_level=os.environ.get("GRANTLEDGER_LOG_LEVEL", "info"),
            database=database_options_from_env(),
        )


def _seconds(name: str, default: str) -> float:  # float-ok: seconds, not money
    raw = os.environ.get(name, default)
    try:
        value = float(raw)  # float-ok: seconds, not money
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):  # float-ok: seconds, not money
        raise SystemExit(f"{name} must be a number of seconds (0 or more), not {raw!r}")
    return value


# --- Database faults and settings ----------------------------------------------------------


def database_options_from_env() -> DatabaseOptions:
    default = DatabaseOptions()
    return DatabaseOptions(
        connect_timeout=_limit("GRANTLEDGER_DB_CONNECT_TIMEOUT", default.connect_timeout),
        pool_timeout=_limit("GRANTLEDGER_DB_POOL_TIMEOUT", default.pool_timeout),
        statement_timeout=_limit(
            "GRANTLEDGER_DB_STATEMENT_TIMEOUT", default.statement_timeout, off=True
        ),
        pool_size=_count("GRANTLEDGER_DB_POOL_SIZE", default.pool_size, least=1),
        max_overflow=_count("GRANTLEDGER_DB_MAX_OVERFLOW", default.max_overflow, least=0),
    )


def _limit(name: str, default: float, off: bool = False) -> float:  # float-ok: seconds
    value = _seconds(name, f"{default:g}")
    if value == 0 and not off:
        raise SystemExit(f"{name} must be more than 0 seconds")
    return value


def _count(name: str, default: int, least: int) -> int:
    raw = os.environ.get(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        value = least - 1
    if value < least:
        raise SystemExit(f"{name} must be a whole number, {least} or more, not {raw!r}")
    return value
