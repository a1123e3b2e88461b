"""The delivery worker: takes due messages from the outbox and POSTs them, signed.

It never runs inside a ledger transaction: a claim is one short transaction, the HTTP attempt
runs with no transaction open and one deadline, and its outcome is a second short transaction.
A 2xx is DELIVERED; anything else is retried on the schedule, then FAILED. Several processes may
run it on one PostgreSQL: `FOR UPDATE SKIP LOCKED` hands each disjoint messages, and the lease a
claim sets keeps the others off a message while its attempt is in flight.

Attempts run side by side and the worker never waits for a batch: whenever it has room it
claims what may start now and starts it. Room is bounded in all (IN_FLIGHT), per endpoint
(PER_ENDPOINT) and per organization (PER_ORGANIZATION), and a claim skips the endpoints and
organizations already at their share, so a receiver that is slow or never answers holds a
couple of attempts and never delays another endpoint's messages. Each attempt ends by its
deadline (GRANTLEDGER_WEBHOOK_TIMEOUT after its claim), well before its lease (twice that, plus
5 s) runs out: no other process can take a message whose attempt is still in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from grantledger.config import WebhookSettings
from grantledger.domain.webhooks import (
    IN_FLIGHT,
    PER_ENDPOINT,
    PER_ORGANIZATION,
    Delivery,
    Destination,
    next_attempt,
    pick_due,
)
from grantledger.service import counters
from grantledger.service.context import Context
from grantledger.service.notifications import sealing
from grantledger.service.notifications.destinations import Resolve
from grantledger.service.notifications.outbox import REAL_TIME
from grantledger.service.notifications.sending import Sender
from grantledger.store.notifications import outbox, webhooks
from grantledger.store.notifications.outbox import MessageRecord
from grantledger.store.notifications.webhooks import EndpointRecord

log = logging.getLogger("grantledger.webhooks")
# Due messages read per free slot at a claim: enough to find others' messages behind a backlog
# of one endpoint that is not busy yet (busy ones are skipped by the query itself).
_CANDIDATES_PER_SLOT = 4
LEASE_MARGIN_SECONDS = 5


@dataclass(frozen=True)
class _Flight:
    destination: Destination
    task: asyncio.Task[None]


class Worker:
    def __init__(
        self,
        ctx: Context,
        key: bytes,
        settings: WebhookSettings,
        resolve: Resolve | None = None,
    ) -> None:
        self.ctx = ctx
        self.key = key
        self.settings = settings
        self.sender = Sender(settings.allow_private, IN_FLIGHT, resolve)
        self.flights: dict[str, _Flight] = {}
        self._landed = asyncio.Event()

    async def close(self) -> None:
        """Stop: attempts in flight are abandoned (their leases end and they are sent again)."""
        for flight in list(self.flights.values()):
            flight.task.cancel()
        await asyncio.gather(*(f.task for f in self.flights.values()), return_exceptions=True)
        await self.sender.close()

    def _load(self) -> tuple[Counter[Destination], Counter[str]]:
        by_endpoint = Counter(f.destination for f in self.flights.values())
        by_organization = Counter(org for org, _ in by_endpoint.elements())
        return by_endpoint, by_organization

    async def run_once(self) -> int:
        """Claim the due messages that may start now and start them; returns how many."""
        free = IN_FLIGHT - len(self.flights)
        if free <= 0:
            return 0
        by_endpoint, by_organization = self._load()
        full_endpoints = sorted(d for d, n in by_endpoint.items() if n >= PER_ENDPOINT)
        full_organizations = sorted(o for o, n in by_organization.items() if n >= PER_ORGANIZATION)
        now = REAL_TIME.now()
        # Longer than an attempt can take (it is cut at its deadline), so no other process
        # takes a message in flight; the margin covers writing the attempt's outcome.
        lease = now + timedelta(seconds=2 * self.settings.timeout + LEASE_MARGIN_SECONDS)
        deadline = asyncio.get_running_loop().time() + self.settings.timeout

        async def claim(conn: AsyncConnection) -> list[MessageRecord]:
            candidates = await outbox.due_messages(
                conn, now, free * _CANDIDATES_PER_SLOT, full_endpoints, full_organizations
            )
            destinations = [(m.org_id, m.endpoint_id) for m in candidates]
            chosen = [
                candidates[i] for i in pick_due(destinations, free, by_endpoint, by_organization)
            ]
            await outbox.lease_messages(conn, [m.id for m in chosen], now, lease)
            return chosen

        due = await self.ctx.db.run(claim)
        if not due:
            return 0
        keys = {(m.org_id, m.endpoint_id) for m in due}

        async def find(conn: AsyncConnection) -> dict[Destination, EndpointRecord]:
            return await webhooks.endpoints_by_id(conn, keys)

        endpoints = await self.ctx.db.run(find)
        for message in due:
            endpoint = endpoints.get((message.org_id, message.endpoint_id))
            self._launch(message, endpoint, deadline)
        return len(due)

    def _launch(
        self,
        message: MessageRecord,
        endpoint: EndpointRecord | None,
        deadline: float,  # float-ok: the event loop's clock
    ) -> None:
        task = asyncio.create_task(self._attempt(message, endpoint, deadline))
        self.flights[message.id] = _Flight((message.org_id, message.endpoint_id), task)

        def landed(_: asyncio.Task[None]) -> None:
            self.flights.pop(message.id, None)
            self._landed.set()

        task.add_done_callback(landed)

    async def _attempt(
        self,
        message: MessageRecord,
        endpoint: EndpointRecord | None,
        deadline: float,  # float-ok: the event loop's clock
    ) -> None:
        attempt = message.attempts + 1
        status_code: int | None = None
        if endpoint is None or endpoint.status != "ACTIVE":
            # A disabled endpoint receives nothing; its owner may retry once it is enabled.
            await self._record(message, attempt, Delivery.FAILED, None, None)
            counters.current().delivery("failed")
            return
        try:
            status_code = await self._send(message, endpoint, deadline)
        except TimeoutError:
            log.warning(
                "webhook %s to %s: no answer within %g s",
                message.id,
                endpoint.id,
                self.settings.timeout,
            )
        except Exception as error:  # a refused connection, a refused address, a bad answer
            log.warning("webhook %s to %s failed: %r", message.id, endpoint.id, error)
        if status_code is not None and 200 <= status_code < 300:
            await self._record(message, attempt, Delivery.DELIVERED, status_code, None)
            counters.current().delivery("delivered")
            return
        then = next_attempt(self.settings.retry_seconds, attempt, REAL_TIME.now())
        status = Delivery.PENDING if then is not None else Delivery.FAILED
        await self._record(message, attempt, status, status_code, then)
        counters.current().delivery("retrying" if then is not None else "failed")

    async def _send(
        self,
        message: MessageRecord,
        endpoint: EndpointRecord,
        deadline: float,  # float-ok: the event loop's clock
    ) -> int:
        secret = sealing.unseal(self.key, endpoint.secret_sealed)
        stamp = int(REAL_TIME.now().timestamp())
        headers = {
            "content-type": "application/json",
            "webhook-id": message.id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": sealing.sign(secret, message.id, stamp, message.body),
        }
        return await self.sender.post(endpoint.url, headers, message.body.encode(), deadline)

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
            self._landed.clear()
            try:
                started = await self.run_once()
                failed = False
            except asyncio.CancelledError:
                raise
            except Exception:  # the worker must outlive a transient database error
                log.exception("webhook delivery round failed; retrying")
                started, failed = 0, True
            if started and len(self.flights) < IN_FLIGHT:
                continue  # more may be due: claim again at once
            # Nothing due, or no room: look again after the poll interval, or as soon as an
            # attempt lands (a slot, or an endpoint's or organization's share, is free again).
            with contextlib.suppress(TimeoutError):
                if failed:
                    await asyncio.sleep(self.settings.poll_interval)
                else:
                    await asyncio.wait_for(self._landed.wait(), self.settings.poll_interval)
