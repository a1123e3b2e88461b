"""Writing webhook messages into the outbox, inside the ledger's transaction.

The body of each event is rendered here, at the moment of the change, so a receiver sees the
object as the change left it. The wire shapes belong to the API layer, which installs the
renderers (`install`) when the app starts; a process without them (the CLI) announces nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from grantledger.clock import SystemClock
from grantledger.domain.webhooks import MAX_ENDPOINTS, Delivery
from grantledger.service.context import Context, Tenant
from grantledger.store.credits.credits import CreditRecord
from grantledger.store.credits.holds import HoldRecord
from grantledger.store.entitlements.event_log import EventLogRecord
from grantledger.store.entitlements.feature_holds import FeatureHoldRecord
from grantledger.store.notifications import outbox as store
from grantledger.store.notifications import webhooks
from grantledger.store.notifications.alerts import IncidentRecord
from grantledger.store.notifications.outbox import MessageRecord
from grantledger.store.notifications.webhooks import EndpointRecord
from grantledger.store.tx import Tx


@dataclass(frozen=True)
class Renderers:
    """Each returns the JSON text of an object in its wire shape."""

    credit: Callable[[CreditRecord, date], str]
    hold: Callable[[HoldRecord, str], str]  # the hold and its account's currency
    incident: Callable[[IncidentRecord], str]
    event: Callable[[EventLogRecord], str]
    feature_hold: Callable[[FeatureHoldRecord], str] | None = None


_renderers: list[Renderers] = []
# Delivery is scheduled in real time even when the ledger's clock is frozen by a test.
REAL_TIME = SystemClock()


def install(renderers: Renderers) -> None:
    _renderers[:] = [renderers]


def renderers() -> Renderers | None:
    return _renderers[0] if _renderers else None


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Outbox:
    """The messages one transaction will write: one per (event, endpoint that wants it).

    The endpoints are read at the first question, so a write that announces nothing (most
    `/entitled` draws) costs no query for them.
    """

    tenant: Tenant
    tx: Tx
    now: datetime
    endpoints: list[EndpointRecord] | None = None
    messages: list[MessageRecord] = field(default_factory=list)

    async def _endpoints(self) -> list[EndpointRecord]:
        if self.endpoints is None:
            # Bounded even for an organization that has more (made before the bound existed).
            self.endpoints = await webhooks.active_endpoints(self.tx, MAX_ENDPOINTS)
        return self.endpoints

    async def listening(self) -> bool:
        return renderers() is not None and bool(await self._endpoints())

    async def wants(self, event_type: str) -> bool:
        if renderers() is None:
            return False
        return any(e.wants(event_type) for e in await self._endpoints())

    def emit(self, event_type: str, data_json: str, happened_at: datetime | None = None) -> None:
        """One message per endpoint that wants `event_type` and existed when the fact happened
        (`happened_at`, by the ledger's clock; default: this change): an endpoint made later
        receives nothing from before it, though a later write may be the one announcing it."""
        stamp = REAL_TIME.now()
        when = happened_at or self.now
        for endpoint in self.endpoints or []:
            if not endpoint.wants(event_type) or endpoint.created_at > when:
                continue
            message_id = self.tenant.new_id("msg", stamp)
            head = json.dumps({"id": message_id, "type": event_type, "timestamp": _iso(self.now)})
            self.messages.append(
                MessageRecord(
                    id=message_id,
                    org_id=self.tenant.org_id,
                    endpoint_id=endpoint.id,
                    event_type=event_type,
                    body=head[:-1] + ', "data": ' + data_json + "}",
                    status=Delivery.PENDING,
                    attempts=0,
                    last_status_code=None,
                    last_attempt_at=None,
                    next_attempt_at=stamp,
                    created_at=stamp,
                )
            )

    async def flush(self) -> None:
        await store.insert_messages(self.tx, self.messages)
        self.messages = []


# A scrape counts FAILED messages up to this many: the cost stays bounded however many pile up.
FAILED_CAP = 10_000
# The backlog read gives up after this long on PostgreSQL: a scrape must not wait on a slow
# database (SQLite reads take no lock and the due-index answers at once).
BACKLOG_STATEMENT_MS = 500


async def backlog(ctx: Context) -> store.BacklogRecord:
    """The outbox's oldest due message and its FAILED count, across organizations."""
    now = REAL_TIME.now()

    async def work(conn: AsyncConnection) -> store.BacklogRecord:
        return await store.backlog(conn, ctx.db.backend, now, FAILED_CAP, BACKLOG_STATEMENT_MS)

    return await ctx.db.read_snapshot(work)
