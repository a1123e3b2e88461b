"""One open transaction bound to one organization.

Every query of a tenant's rows takes a `Tx` instead of a connection and an organization id side
by side, so a query cannot be handed a connection without its tenant (docs/design.md, "Tenancy").
It also carries the database's `Backend` (`store/backend.py`): which statements run there.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from grantledger.store.backend import PORTABLE, Backend


@dataclass(frozen=True)
class Tx:
    conn: AsyncConnection
    org_id: str
    backend: Backend = PORTABLE
