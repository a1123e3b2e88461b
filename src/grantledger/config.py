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
            sweep_interval_seconds=float(
                os.environ.get("GRANTLEDGER_SWEEP_INTERVAL", "60")
            ),  # float-ok: seconds, not money
            log_level=os.environ.get("GRANTLEDGER_LOG_LEVEL", "info"),
        )
