"""Settings read from the environment, in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_SQLITE_URL = "sqlite:///./data/grantledger.db"


@dataclass(frozen=True)
class Settings:
    database_url: str
    bootstrap_key: str | None
    sweep_interval_seconds: float  # float-ok: seconds, not money
    log_level: str

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=os.environ.get("GRANTLEDGER_DATABASE_URL", DEFAULT_SQLITE_URL),
            bootstrap_key=os.environ.get("GRANTLEDGER_BOOTSTRAP_KEY") or None,
            sweep_interval_seconds=_seconds("GRANTLEDGER_SWEEP_INTERVAL", "60"),
            log_level=os.environ.get("GRANTLEDGER_LOG_LEVEL", "info"),
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
