"""One open transaction bound to one organization.

Every query of a tenant's rows takes a `Tx` instead of a connection and an organization id side
by side, so a query cannot be handed a connection without its tenant (docs/design.md, "Tenancy").
It also carries the database's `Backend` (`store/backend.py`): which statements run there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from grantledger.store.backend import PORTABLE, Backend


@dataclass(frozen=True)
class Audit:
    """A mutating API request, as its audit row names it (`store/books/audit.py`)."""

    audit_id: str  # made by the server for this request
    at: datetime
    actor: str
    method: str
    route: str
    path: str
    request_id: str | None
    address: str | None
    # Appended to when a transaction of the request has committed (with its row): the answer
    # then needs no row of its own. Shared by the copies `replace` makes.
    committed: list[bool] = field(default_factory=list, compare=False)


@dataclass(frozen=True)
class Cause:
    """Who asked for a transaction's changes: the request's id and its actor (an API key by
    its prefix, a console session's key, a background job). The journal records them."""

    request_id: str | None = None
    actor: str | None = None
    # Set for a mutating API request: its transactions write its audit row (the first to commit).
    audit: Audit | None = None


NO_CAUSE = Cause()


@dataclass(frozen=True)
class Tx:
    conn: AsyncConnection
    org_id: str
    backend: Backend = PORTABLE
    cause: Cause = NO_CAUSE
