"""Receivers that misbehave, as real local servers, against a real `grantledger serve` with two
workers on PostgreSQL: a huge answer is not read, a trickling one holds an attempt no longer than
its deadline (and never long enough for the lease to hand the message to a second sender), and a
receiver that never answers delays no other endpoint's deliveries."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.test_workers import _wait_for_workers
from tests.helpers import credit_request, new_account, ok_json
from tests.notify_servers import fresh_database
from tests.raw_receivers import RawReceiver, Visit, huge, silent, trickling
from tests.receiver import Receiver
from tests.servers import Server

TIMEOUT = 2  # GRANTLEDGER_WEBHOOK_TIMEOUT: the lease is 2 x 2 + 5 = 9 s


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("receivers")
    for url in fresh_database("postgres", directory):
        server = Server(
            database_url=url,
            clock_file=directory / "clock",
            workers=2,
            env={
                "GRANTLEDGER_WEBHOOK_ALLOW_PRIVATE": "1",
                "GRANTLEDGER_WEBHOOK_RETRY_SECONDS": "1,1",
                "GRANTLEDGER_WEBHOOK_POLL_INTERVAL": "0.2",
                "GRANTLEDGER_WEBHOOK_TIMEOUT": str(TIMEOUT),
                "GRANTLEDGER_WEBHOOK_WORKER": "1",
                "GRANTLEDGER_SECRET_KEY_FILE": str(directory / "server.key"),
            },
        )
        server.start(directory)
        try:
            yield server
        finally:
            server.stop()


def _endpoint(api: httpx.Client, url: str) -> str:
    body = {"url": url, "eventTypes": ["credit.granted"]}
    endpoint_id: str = ok_json(api.post("/webhook_endpoints", json=body), 201)["id"]
    return endpoint_id


def _grant(api: httpx.Client, account: str, count: int) -> None:
    requests = [credit_request(account, 1) for _ in range(count)]
    ok_json(api.post("/credits", json={"creditRequests": requests}))


def _peak_rss_kib(srv: Server) -> int:
    peak = 0
    for pid in _wait_for_workers(srv, 2):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]))
    return peak


def _deliveries(api: httpx.Client, endpoint_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ok_json(api.get(f"/webhook_endpoints/{endpoint_id}/deliveries"))[
        "data"
    ]
    return found


def _wait(done: Any, timeout: float = 20) -> None:  # float-ok: seconds
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_huge_answer_is_not_read(hub: Server) -> None:
    receiver = RawReceiver(huge(256 << 20))
    try:
        with hub.client() as api:
            before = _peak_rss_kib(hub)
            endpoint = _endpoint(api, receiver.url)
            _grant(api, new_account(api), 3)
            _wait(lambda: [d["status"] for d in _deliveries(api, endpoint)] == ["DELIVERED"] * 3)
            assert {d["lastStatusCode"] for d in _deliveries(api, endpoint)} == {200}
            _wait(lambda: all(v.ended for v in receiver.snapshot()))
            # The sender hung up after a prefix: what the receiver got out is what socket
            # buffers hold, not 256 MiB; and no worker's memory grew by the answer's size.
            assert all(v.sent < 32 << 20 for v in receiver.snapshot()), receiver.snapshot()
            assert _peak_rss_kib(hub) - before < 64 << 10
            api.delete(f"/webhook_endpoints/{endpoint}")
    finally:
        receiver.close()


def _overlapping(visits: list[Visit]) -> list[tuple[Visit, Visit]]:
    found = []
    for i, a in enumerate(visits):
        for b in visits[i + 1 :]:
            if a.webhook_id == b.webhook_id and b.began < (a.ended or time.monotonic()):
                found.append((a, b))
    return found


def test_a_trickling_answer_holds_an_attempt_no_longer_than_its_deadline(hub: Server) -> None:
    receiver = RawReceiver(trickling(every=0.5, lasting=20))
    try:
        with hub.client() as api:
            endpoint = _endpoint(api, receiver.url)
            _grant(api, new_account(api), 1)
            # Two attempts (the first and a retry a second later), each cut at its deadline.
            deadline = time.monotonic() + 25
            while time.monotonic() < deadline and len(receiver.snapshot()) < 2:
                time.sleep(0.1)
            _wait(lambda: all(v.ended for v in receiver.snapshot()), 25)
            visits = receiver.snapshot()
            assert len(visits) >= 2
            for visit in visits:
                assert visit.ended is not None
                assert visit.ended - visit.began < TIMEOUT + 1.5, visit
            # Never two attempts of one message at once: no lease ran out under an attempt.
            assert _overlapping(visits) == []
            [row] = _deliveries(api, endpoint)
            assert row.get("lastStatusCode") is None  # no answer came within the deadline
            api.delete(f"/webhook_endpoints/{endpoint}")
    finally:
        receiver.close()


def test_a_receiver_that_never_answers_delays_no_other_endpoint(hub: Server) -> None:
    stuck = RawReceiver(silent(lasting=60))
    fine = Receiver()
    try:
        with hub.client() as slow_org, hub.client() as other_org:
            stuck_endpoint = _endpoint(slow_org, stuck.url)
            account = new_account(slow_org)
            _grant(slow_org, account, 100)
            _grant(slow_org, account, 100)
            _wait(lambda: len(stuck.snapshot()) >= 2)  # the stuck endpoint's attempts are out
            _endpoint(other_org, fine.url)
            started = time.monotonic()
            _grant(other_org, new_account(other_org), 1)
            fine.wait_for(lambda got: len(got) >= 1, timeout=15)
            waited = time.monotonic() - started
            assert waited < 1.5, f"another tenant's delivery waited {waited:.1f} s"
            # The stuck endpoint holds a bounded number of attempts: 2 per worker process.
            now = time.monotonic()
            in_flight = [v for v in stuck.snapshot() if v.ended is None or v.ended > now]
            assert len(in_flight) <= 4
            slow_org.delete(f"/webhook_endpoints/{stuck_endpoint}")
    finally:
        stuck.close()
        fine.close()
