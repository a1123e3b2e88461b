"""DNS rebinding against the delivery worker, with a resolver the test controls.

The worker runs in this process on a real SQLite database and posts to real receivers; the name
`rebind.test` is answered by the test, alternately with an address it treats as public
(127.0.0.2, standing for the internet) and with 127.0.0.1, where an "internal service" listens
on the same port. A worker that checks one answer and connects to another reaches the internal
service; one that connects to exactly the address it checked never does.
"""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from grantledger.clock import SystemClock
from grantledger.config import WebhookSettings
from grantledger.domain import webhooks as rules
from grantledger.service.context import Context
from grantledger.service.notifications import delivery, sealing
from grantledger.service.notifications import webhooks as endpoints
from grantledger.service.notifications.delivery import Worker
from grantledger.service.operations import tenants
from grantledger.store.database import Database
from grantledger.store.migrate import upgrade
from grantledger.store.notifications import outbox
from grantledger.store.notifications.outbox import MessageRecord
from grantledger.store.tx import Tx
from tests.receiver import Receiver

NAME = "rebind.test"
PUBLIC = "127.0.0.2"  # what the test's address rule lets through: "the internet"


class Rebinder:
    """Answers NAME alternately with PUBLIC and 127.0.0.1; every other name as usual."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.answers: list[str] = []

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in (NAME, NAME.encode()):
            return self.real(host, port, *args, **kwargs)
        address = PUBLIC if len(self.answers) % 2 == 0 else "127.0.0.1"
        self.answers.append(address)
        where = (address, int(port or 0))
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", where)]


@pytest.fixture
def rebinding(monkeypatch: pytest.MonkeyPatch) -> Rebinder:
    rebinder = Rebinder(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", rebinder)
    real_rule = rules.refused_address

    def rule(address: str) -> str | None:
        return None if address == PUBLIC else real_rule(address)

    monkeypatch.setattr(rules, "refused_address", rule)
    # Where a module bound the rule's name at import, bind it there too.
    monkeypatch.setattr(delivery, "refused_address", rule, raising=False)
    return rebinder


async def _deliver(url: str, endpoint_url: str) -> list[MessageRecord]:
    ctx = Context(Database(url), SystemClock())
    key = sealing._key_from_text("k" * 40)
    settings = WebhookSettings(
        retry_seconds=(0.2, 0.2, 0.2, 0.2, 0.2),
        allow_private=False,
        timeout=2.0,
        poll_interval=0.05,
        enabled=True,
    )
    worker = Worker(ctx, key, settings)
    try:
        api_key = await tenants.create_key(ctx, "rebinding")
        org_id = await tenants.authenticate(ctx, api_key)
        assert org_id is not None
        tenant = ctx.tenant(org_id)
        # Made without the address check: it is the send-time check that is under test.
        made = await endpoints.create(
            tenant, key, endpoints.UrlPolicy(True), endpoints.EndpointInput(endpoint_url)
        )
        now = tenant.now()

        async def enqueue(tx: Tx) -> None:
            await outbox.insert_messages(
                tx,
                [
                    MessageRecord(
                        id=tenant.new_id("msg", now),
                        org_id=org_id,
                        endpoint_id=made.endpoint.id,
                        event_type="credit.granted",
                        body='{"type": "credit.granted"}',
                        status="PENDING",
                        attempts=0,
                        last_status_code=None,
                        last_attempt_at=None,
                        next_attempt_at=now,
                        created_at=now,
                    )
                ],
            )

        await tenant.run(enqueue)
        running = asyncio.create_task(worker.run_forever())
        deadline = time.monotonic() + 8
        messages: list[MessageRecord] = []
        while time.monotonic() < deadline:
            page = await endpoints.deliveries(tenant, made.endpoint.id, None, 10)
            messages = page.items
            if messages and messages[0].status != "PENDING":
                break
            await asyncio.sleep(0.05)
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        return messages
    finally:
        await worker.close()
        await ctx.db.dispose()


def test_a_rebinding_name_never_reaches_the_internal_address(
    rebinding: Rebinder, tmp_path: Path
) -> None:
    internal = Receiver(host="127.0.0.1")
    public = Receiver(host=PUBLIC, port=internal.port)
    try:
        url = f"sqlite:///{tmp_path}/rebind.db"
        upgrade(url)
        [message] = asyncio.run(_deliver(url, f"http://{NAME}:{internal.port}/hook"))
        assert internal.snapshot() == [], "a delivery reached the internal address"
        # The checked address was the one connected to: the message went to "the internet".
        assert message.status == "DELIVERED" and message.last_status_code == 200
        assert len(public.snapshot()) == 1
        assert rebinding.answers[0] == PUBLIC
    finally:
        internal.close()
        public.close()
