"""A server process killed with SIGKILL in the middle of a stream of corrections (issue 20):
two `grantledger serve` processes share a fresh PostgreSQL database and take UNDOs of one
account's events, dealt alternately, until one of them is killed. No correction that was
answered REVERTED is lost, none is applied twice, every unanswered one can be sent again
safely, and `grantledger verify` is clean after."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import new_account
from tests.servers import Server, create_postgres_database, drop_postgres_database, run_cli

EVENTS = 150
THREADS = 4


@pytest.fixture
def pg_pair(tmp_path: Path) -> Iterator[list[Server]]:
    url = create_postgres_database()
    if url is None:
        pytest.skip("PostgreSQL unreachable")
    servers = [Server(database_url=url, clock_file=tmp_path / "clock") for _ in range(2)]
    try:
        for n, server in enumerate(servers):
            state = tmp_path / f"server-{n}"
            state.mkdir()
            server.start(state)
        yield servers
    finally:
        for server in servers:
            server.stop()
        drop_postgres_database(url)


@dataclass(frozen=True)
class Sent:
    event_id: str
    status: int | None  # None: no HTTP answer (connection refused or cut)
    outcome: str | None  # the correction's status when answered 200
    reason: str = ""


def _event(schema: str, account: str, event_id: str) -> dict[str, Any]:
    stamp = (datetime.now(UTC) - timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    return {
        "schemaName": schema,
        "id": event_id,
        "timestamp": stamp,
        "accountId": account,
        "attributes": [{"name": "tokens", "value": "1"}],
        "dimensions": {},
    }


def _setup(api: httpx.Client) -> tuple[str, str, str, dict[str, dict[str, Any]]]:
    """An account with 1000 tokens and EVENTS ingested events of one each: (account, feature,
    entry, event id → event)."""
    account = new_account(api)
    schema = "calls"
    r = api.post(
        "/event_schema",
        json={"name": schema, "attributes": [{"name": "tokens"}], "dimensions": []},
    )
    assert r.status_code == 201, r.text
    feature = "tokens"
    r = api.post(
        "/features",
        json={
            "id": feature,
            "name": "Tokens",
            "schemaAssociations": [{"schemaName": schema, "attributeName": "tokens"}],
        },
    )
    assert r.status_code == 200, r.text
    r = api.post(
        f"/accounts/{account}/features/{feature}/entries",
        json={"granted": 1000, "effectiveFrom": "2020-01-01T00:00:00Z"},
    )
    assert r.status_code == 200, r.text
    entry = r.json()["id"]
    sent = {f"ev-{n}": _event(schema, account, f"ev-{n}") for n in range(EVENTS)}
    r = api.post("/ingestBatch", json={"events": list(sent.values())})
    assert r.status_code == 202, r.text
    return account, feature, entry, sent


def _undo(client: httpx.Client, body: dict[str, Any], event_id: str) -> Sent:
    try:
        r = client.post("/events/correction", params={"action": "UNDO"}, json={"event": body})
    except httpx.TransportError:
        return Sent(event_id, None, None)
    if r.status_code != 200:
        return Sent(event_id, r.status_code, None, r.text)
    first = r.json()["data"][0]
    return Sent(event_id, 200, first["status"], first.get("reason") or "")


def test_kill_9_during_corrections_loses_no_acknowledged_one(
    pg_pair: list[Server], tmp_path: Path
) -> None:
    key = pg_pair[0].key()
    with pg_pair[0].client(key) as api:
        account, feature, entry, sent = _setup(api)

    todo = list(sent)
    answers: list[Sent] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        # A client whose process stops answering goes on with the other one, as a client
        # behind a load balancer would: the stream goes on through the kill.
        clients = [pg_pair[(n + k) % 2].client(key) for k in range(2)]
        try:
            while True:
                with lock:
                    if not todo:
                        return
                    event_id = todo.pop(0)
                answer = _undo(clients[0], sent[event_id], event_id)
                if answer.status is None:
                    clients.reverse()
                with lock:
                    answers.append(answer)
        finally:
            for client in clients:
                client.close()

    threads = [threading.Thread(target=work, args=(n,), daemon=True) for n in range(THREADS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    victim = pg_pair[0]
    assert victim.process is not None
    while True:  # kill once a good part of the stream is answered, with the rest in flight
        with lock:
            if len(answers) >= EVENTS // 3:
                break
        assert time.monotonic() - started < 120, "corrections too slow to reach the kill"
        time.sleep(0.01)
    victim.process.kill()  # SIGKILL: no shutdown, transactions cut mid-way
    victim.process.wait(timeout=10)
    killed_after = len(answers)
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)

    by_status = Counter((a.status, a.outcome) for a in answers)
    # Nothing was corrected twice: each event was sent once, and none answered otherwise.
    assert set(by_status) <= {(200, "REVERTED"), (None, None)}, [
        a for a in answers if (a.status, a.outcome) not in {(200, "REVERTED"), (None, None)}
    ]
    acknowledged = {a.event_id for a in answers if a.status == 200}
    unanswered = {a.event_id for a in answers if a.status is None}
    assert len(acknowledged) + len(unanswered) == EVENTS, by_status
    assert len(acknowledged) > EVENTS // 2, by_status  # the survivor took the stream on
    print(
        f"\n{EVENTS} UNDOs over 2 processes, one killed after {killed_after} answers: "
        f"{len(acknowledged)} answered REVERTED, {len(unanswered)} unanswered"
    )

    victim.start(tmp_path / "server-0")  # the same database and port, a new process
    with victim.client(key) as api:
        reverted = _reverted(api, account)
        assert acknowledged <= reverted, sorted(acknowledged - reverted)[:5]
        # An unanswered UNDO either committed or not: sending it again says which, once.
        for event_id in sorted(unanswered):
            again = _undo(api, sent[event_id], event_id)
            if event_id in reverted:
                assert (again.outcome, again.reason) == (
                    "FAILED",
                    f"event {event_id} was already reverted",
                ), again
            else:
                assert again.outcome == "REVERTED", again
        assert _reverted(api, account) == set(sent)
        r = api.get(f"/accounts/{account}/features/{feature}/entries")
        [found] = [e for e in r.json()["data"] if e["id"] == entry]
        assert (found["used"], found["balance"]) == (0, 1000), found
    result = run_cli(victim.database_url, "verify")
    assert result.returncode == 0, result.stdout + result.stderr


def _reverted(api: httpx.Client, account: str) -> set[str]:
    """The ids of the account's REVERTED events (every page)."""
    found: set[str] = set()
    token: str | None = None
    while True:
        params = {"account_id": account, "status": "REVERTED", "pageSize": 50}
        if token:
            params["nextToken"] = token
        r = api.get("/events", params=params)
        if r.status_code == 204:
            return found
        assert r.status_code == 200, r.text
        body = r.json()
        found |= {e["eventPayload"]["id"] for e in body["events"]}
        token = body.get("nextToken")
        if not token:
            return found
