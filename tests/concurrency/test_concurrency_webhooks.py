"""Two server processes on one PostgreSQL share one outbox: every message is delivered, and none
twice (`FOR UPDATE SKIP LOCKED` hands each worker a disjoint batch). Feature draws racing through
both processes across an alert's line open one incident."""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import pytest

from tests.helpers import (
    grant,
    grant_entry,
    new_account,
    new_feature,
    new_schema,
    ok_json,
    usage_event,
)
from tests.notify_servers import assert_verified, fresh_database, notify_server
from tests.receiver import Receiver, verified
from tests.servers import Server

GRANTS = 80


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    directory = tmp_path_factory.mktemp("two-workers")
    for url in fresh_database("postgres", directory):
        first = notify_server(url, directory)
        second = notify_server(url, directory)  # same key file: same secrets
        try:
            yield first, second
        finally:
            first.stop()
            second.stop()
            assert_verified(url)


def test_two_processes_never_deliver_one_message_twice(pair: tuple[Server, Server]) -> None:
    first, second = pair
    key = first.key()
    receiver = Receiver()
    try:
        with first.client(key) as api:
            secret = ok_json(
                api.post(
                    "/webhook_endpoints",
                    json={"url": receiver.url, "eventTypes": ["credit.granted"]},
                ),
                201,
            )["secret"]
            accounts = [new_account(api) for _ in range(4)]

        def one(n: int) -> None:
            server = (first, second)[n % 2]
            with server.client(key) as api:
                grant(api, accounts[n % 4], 1)

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(one, range(GRANTS)))
        receiver.wait_for(lambda rs: len({r.id for r in rs}) >= GRANTS, timeout=60)
        time.sleep(2)  # a second delivery of anything would have arrived by now
        got = receiver.snapshot()
        twice = [i for i, n in Counter(r.id for r in got).items() if n > 1]
        assert twice == [] and len(got) == GRANTS
        for message in got:
            verified(secret, message)
    finally:
        receiver.close()


def test_racing_feature_draws_open_one_incident(pair: tuple[Server, Server]) -> None:
    first, second = pair
    key = first.key()
    with first.client(key) as api:
        schema = new_schema(api)
        feature = new_feature(api, [(schema, "tokens")])
        account = new_account(api)
        grant_entry(api, account, feature, 100)
        alert = ok_json(
            api.post(
                "/alerts",
                json={
                    "alertTemplateId": "feature_balance_below",
                    "interval": 60,
                    "status": "ACTIVE",
                    "entityDetails": {"account": {"id": account}, "feature": {"id": feature}},
                    "parameters": {"threshold": {"amount": 50}},
                },
            )
        )

    # Events at the moment they are sent: the entry was granted effective from its creation.
    def draw(n: int) -> int:
        now = datetime.now(UTC).isoformat()
        server = (first, second)[n % 2]
        with httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60
        ) as api:
            event = usage_event(schema, account, now, "e-" + secrets.token_hex(8), tokens="1")
            return api.post("/entitled", json=event).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        codes = list(pool.map(draw, range(80)))
    assert codes.count(200) == 80, Counter(codes)
    with first.client(key) as api:
        incidents = ok_json(api.get("/incidents", params={"alertId": alert["id"]}))["data"]
    assert len(incidents) == 1
    assert incidents[0]["reportData"]["feature"] == {"id": feature}
