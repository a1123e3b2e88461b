"""The outbox survives the process: a server killed with SIGKILL after the ledger committed and
before the webhook went out delivers it once restarted; one killed while an attempt is in
flight sends it again, with the same webhook-id, once the claim's lease ends."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import grant, new_account, ok_json
from tests.notify_servers import assert_verified, fresh_database, notify_server
from tests.receiver import Receiver, verified


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from fresh_database(request.param, tmp_path)


def _kill(server: object) -> None:
    process = server.process  # type: ignore[attr-defined]
    process.kill()  # SIGKILL: no shutdown, no flush, no goodbye
    process.wait(timeout=15)


def test_committed_before_delivery_is_delivered_after_restart(url: str, tmp_path: Path) -> None:
    receiver = Receiver()
    # The worker looks once at start, then sleeps a minute: the grant below commits its
    # message, and the process dies before any look could send it.
    server = notify_server(url, tmp_path, GRANTLEDGER_WEBHOOK_POLL_INTERVAL="60")
    try:
        with server.client() as api:
            key = api.headers["Authorization"].removeprefix("Bearer ")
            secret = ok_json(
                api.post(
                    "/webhook_endpoints",
                    json={"url": receiver.url, "eventTypes": ["credit.granted"]},
                ),
                201,
            )["secret"]
            credit = grant(api, new_account(api), 42)
        _kill(server)
        assert receiver.snapshot() == []
        server = notify_server(url, tmp_path)
        [message] = receiver.wait_for(lambda rs: len(rs) >= 1)
        assert verified(secret, message)["data"]["id"] == credit["id"]
        with server.client(key) as api:
            endpoint = ok_json(api.get("/webhook_endpoints"))["data"][0]["id"]
            [row] = ok_json(api.get(f"/webhook_endpoints/{endpoint}/deliveries"))["data"]
        assert row["id"] == message.id and row["status"] == "DELIVERED"
    finally:
        server.stop()
        receiver.close()
    assert_verified(url)


def test_killed_mid_attempt_is_sent_again_with_the_same_id(url: str, tmp_path: Path) -> None:
    arrived, release = threading.Event(), threading.Event()

    def answer(n: int) -> int:
        if n == 0:
            arrived.set()
            release.wait(30)  # hold the first attempt open while the server is killed
            return 500
        return 200

    receiver = Receiver(answer)
    server = notify_server(url, tmp_path, GRANTLEDGER_WEBHOOK_TIMEOUT="2")
    try:
        with server.client() as api:
            secret = ok_json(
                api.post(
                    "/webhook_endpoints",
                    json={"url": receiver.url, "eventTypes": ["credit.granted"]},
                ),
                201,
            )["secret"]
            grant(api, new_account(api), 7)
        assert arrived.wait(20)
        _kill(server)
        release.set()
        server = notify_server(url, tmp_path, GRANTLEDGER_WEBHOOK_TIMEOUT="2")
        # The dead process's claim holds the message for its lease (2 x 2 s + 5 s), then the
        # new process takes it.
        got = receiver.wait_for(lambda rs: any(r.answered == 200 for r in rs), timeout=40)
        assert got[0].id == got[-1].id
        verified(secret, got[-1])
    finally:
        release.set()
        server.stop()
        receiver.close()
    assert_verified(url)
