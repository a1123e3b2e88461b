"""What every use case needs: the database and the clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from grantledger.clock import Clock
from grantledger.domain.ids import new_id
from grantledger.store.database import Database


@dataclass(frozen=True)
class Context:
    db: Database
    clock: Clock

    def now(self) -> datetime:
        return self.clock.now()

    def new_id(self, prefix: str, at: datetime | None = None) -> str:
        return new_id(prefix, at or self.clock.now())
