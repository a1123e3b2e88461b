"""One open transaction bound to one organization.

Every query of a tenant's rows takes a `Tx` instead of a connection and an organization id side
by side, so a query cannot be handed a connection without its tenant (docs/design.md, "Tenancy").
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True)
class Tx:
    conn: AsyncConnection
    org_id: str
