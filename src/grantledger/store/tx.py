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
class Cause:
    """Who asked for a transaction's changes: the request's id and its actor (an API key by
    its prefix, a console session's key, a background job). The journal records them."""

    request_id: str | None = None
    actor: str | None = None


NO_CAUSE = Cause()


@dataclass(frozen=True)
class Tx:
    conn: AsyncConnection
    org_id: str
    backend: Backend = PORTABLE
    cause: Cause = NO_CAUSE
