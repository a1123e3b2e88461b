"""The delivery worker: takes due messages from the outbox and POSTs them, signed.

It never runs inside a ledger transaction: a claim is one short transaction, the HTTP attempt
runs with no transaction open and a timeout, and its outcome is a second short transaction. A
2xx is DELIVERED; anything else is retried on the schedule, then FAILED. Several processes may
run it on one PostgreSQL: `FOR UPDATE SKIP LOCKED` hands each a disjoint batch, and the lease a
claim sets keeps the others off a message while its attempt is in flight.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection

from grantledger.config import WebhookSettings
from grantledger.domain.webhooks import Delivery, next_attempt, refused_address
from grantledger.service import counters
from grantledger.service.context import Context
from grantledger.service.notifications import sealing
from grantledger.service.notifications.outbox import REAL_TIME
from grantledger.store.notifications import outbox, webhooks
from grantledger.store.notifications.outbox import MessageRecord
from grantledger.store.notifications.webhooks import EndpointRecord

log = logging.getLogger("grantledger.webhooks")
BATCH = 50
USER_AGENT = "grantledger-webhooks/1"


class Worker:
    def __init__(self, ctx: Context, key: bytes, settings: WebhookSettings) -> None:
        self.ctx = ctx
        self.key = key
        self.settings = settings
        # Redirects are not followed: a 3xx could point a delivery at a private address.
        # No kept-alive connections: an attempt on a socket the receiver closed while idle
        # would fail without ever reaching it; a fresh connection per attempt cannot.
        self.http = httpx.AsyncClient(
            timeout=settings.timeout,
            follow_redirects=False,
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def run_once(self) -> int:
        """Attempt every due message once; returns how many were attempted."""
        now = REAL_TIME.now()
        # Longer than an attempt can take, so no other process takes a message in flight.
        lease = now + timedelta(seconds=2 * self.settings.timeout + 5)

        async def claim(conn: AsyncConnection) -> list[MessageRecord]:
            return await outbox.claim_due(conn, now, lease, BATCH)

        due = await self.ctx.db.run(claim)
        if not due:
            return 0
        keys = {(m.org_id, m.endpoint_id) for m in due}

        async def find(conn: AsyncConnection) -> dict[tuple[str, str], EndpointRecord]:
            return await webhooks.endpoints_by_id(conn, keys)

        endpoints = await self.ctx.db.run(find)
        await asyncio.gather(
            *(self._attempt(m, endpoints.get((m.org_id, m.endpoint_id))) for m in due)
        )
        return len(due)

    async def _attempt(self, message: MessageRecord, endpoint: EndpointRecord | None) -> None:
        attempt = message.attempts + 1
        status_code: int | None = None
        if endpoint is None or endpoint.status != "ACTIVE":
            # A disabled endpoint receives nothing; its owner may retry once it is enabled.
            await self._record(message, attempt, Delivery.FAILED, None, None)
            counters.current().delivery("failed")
            return
        try:
            status_code = await self._send(message, endpoint)
        except Exception as error:  # a timeout, a refused connection, a refused address
            log.warning("webhook %s to %s failed: %r", message.id, endpoint.id, error)
        if status_code is not None and 200 <= status_code < 300:
            await self._record(message, attempt, Delivery.DELIVERED, status_code, None)
            counters.current().delivery("delivered")
            return
        then = next_attempt(self.settings.retry_seconds, attempt, REAL_TIME.now())
        status = Delivery.PENDING if then is not None else Delivery.FAILED
        await self._record(message, attempt, status, status_code, then)
        counters.current().delivery("retrying" if then is not None else "failed")

    async def _send(self, message: MessageRecord, endpoint: EndpointRecord) -> int:
        if not self.settings.allow_private:
            await _check_destination(endpoint.url)
        secret = sealing.unseal(self.key, endpoint.secret_sealed)
        stamp = int(REAL_TIME.now().timestamp())
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": message.id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": sealing.sign(secret, message.id, stamp, message.body),
        }
        response = await self.http.post(endpoint.url, content=message.body, headers=headers)
        return response.status_code

    async def _record(
        self,
        message: MessageRecord,
        attempt: int,
        status: str,
        status_code: int | None,
        then: datetime | None,
    ) -> None:
        async def work(conn: AsyncConnection) -> None:
            await outbox.record_attempt(
                conn,
                message.id,
                attempt,
                status,
                status_code,
                then,
            )

        await self.ctx.db.run(work)

    async def run_forever(self) -> None:
        while True:
            try:
                attempted = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the worker must outlive a transient database error
                log.exception("webhook delivery round failed; retrying")
                attempted = 0
            if attempted < BATCH:
                await asyncio.sleep(self.settings.poll_interval)


async def _check_destination(url: str) -> None:
    """The SSRF rule again at send time: the name may resolve elsewhere than at creation."""
    host = httpx.URL(url).host
    found = await asyncio.get_running_loop().getaddrinfo(host, None)
    for *_, address in found:
        why = refused_address(str(address[0]))
        if why is not None:
            raise PermissionError(f"{host} resolves to {why}")
