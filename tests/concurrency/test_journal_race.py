"""The journal's cursor under racing writers (issue 22): two worker processes on one
PostgreSQL commit grants out of order while a reader polls `GET /ledger/entries` as fast as it
can, always `after` the last cursor it saw. Whatever it read, once the writers are done and
their transactions settled, equals the journal: no row twice, none missing."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import grant, new_account
from tests.servers import Server

WRITERS = 6
GRANTS_EACH = 25
SETTLE_SECONDS = 60


@pytest.fixture(scope="module")
def pg_server(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    state: Path = tmp_path_factory.mktemp("pg-journal-race")
    server = Server(database_url=pg_url, clock_file=state / "clock", workers=2)
    server.start(state)
    yield server
    server.stop()


def _page(api: httpx.Client, after: str | None) -> dict[str, Any]:
    r = api.get("/ledger/entries", params={"after": after} if after else {})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_a_polling_reader_sees_every_row_once_while_writers_race(pg_server: Server) -> None:
    key = pg_server.key("race-" + secrets.token_hex(4))
    with pg_server.client(key) as setup:
        accounts = [new_account(setup) for _ in range(WRITERS)]
    done = threading.Event()
    seen: list[str] = []
    polls = [0]

    def reader() -> None:
        after: str | None = None
        with pg_server.client(key) as api:
            while not done.is_set() or len(seen) < WRITERS * GRANTS_EACH:
                body = _page(api, after)
                polls[0] += 1
                seen.extend(row["cursor"] for row in body["data"])
                after = body["cursor"]
                if done.is_set() and not body["data"]:
                    if time.monotonic() > deadline[0]:
                        return
                    time.sleep(0.05)

    def writer(account: str) -> list[str]:
        made = []
        with pg_server.client(key) as api:
            for n in range(GRANTS_EACH):
                made.append(grant(api, account, n + 1)["id"])
        return made

    deadline = [float("inf")]
    watcher = threading.Thread(target=reader)
    watcher.start()
    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        granted = [c for made in pool.map(writer, accounts) for c in made]
    deadline[0] = time.monotonic() + SETTLE_SECONDS
    done.set()
    watcher.join(timeout=SETTLE_SECONDS + 30)
    assert not watcher.is_alive()

    with pg_server.client(key) as api:
        journal: list[str] = []
        credits: list[str] = []
        after = None
        while True:
            body = _page(api, after)
            journal.extend(row["cursor"] for row in body["data"])
            credits.extend(row["creditId"] for row in body["data"])
            after = body["cursor"]
            if not body["more"]:
                break
    assert len(seen) == len(set(seen)), "a row was read twice"
    assert seen == journal, "the union of the polled pages is not the journal"
    assert sorted(credits) == sorted(granted)
    assert polls[0] > 10  # the reader really raced the writers
