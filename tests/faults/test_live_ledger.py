"""The ledger while it is being written: `grantledger verify` on a live database, and a server
killed with SIGKILL in the middle of a debit load. Each on a fresh SQLite file and a fresh
PostgreSQL database, so every count below covers exactly what the test wrote."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.load import DebitLoad, settle_and_check
from tests.helpers import grant, new_account
from tests.servers import Server, create_postgres_database, drop_postgres_database, run_cli

VERIFY_ROUNDS = 4


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'live.db'}"
        return
    url = create_postgres_database()
    if url is None:
        pytest.skip("PostgreSQL unreachable")
    try:
        yield url
    finally:
        drop_postgres_database(url)


@pytest.fixture
def live(fresh_url: str, tmp_path: Path) -> Iterator[Server]:
    server = Server(database_url=fresh_url, clock_file=tmp_path / "clock")
    try:
        server.start(tmp_path)
        yield server
    finally:
        server.stop()


def test_verify_is_clean_while_debits_commit(live: Server) -> None:
    key = live.key()
    with live.client(key) as api:
        account = new_account(api)
        for priority in (1, 2):
            grant(api, account, 100000, priority=priority)
        load = DebitLoad(live.base_url, key, account, threads=4).start()
        try:
            time.sleep(0.5)
            for _ in range(VERIFY_ROUNDS):
                served = load.count(200)
                result = run_cli(live.database_url, "verify")
                assert result.returncode == 0, result.stdout + result.stderr
                assert "ledger consistent" in result.stderr
                # The check really ran while debits were being committed.
                assert load.count(200) > served
        finally:
            answers = load.stop()
    refused = {(a.status, a.message, round(a.seconds, 2)) for a in answers if a.status != 200}
    assert not refused, refused
    result = run_cli(live.database_url, "verify")
    assert result.returncode == 0, result.stdout + result.stderr


def test_kill_9_under_load_loses_no_acknowledged_write(live: Server, tmp_path: Path) -> None:
    key = live.key()
    with live.client(key) as api:
        account = new_account(api)
        credit = grant(api, account, 100000)["id"]
    load = DebitLoad(live.base_url, key, account, threads=4, timeout=10).start()
    try:
        time.sleep(1.5)
        assert live.process is not None
        live.process.kill()  # SIGKILL: no shutdown, no flush, transactions cut mid-way
        live.process.wait(timeout=10)
        time.sleep(0.3)
    finally:
        answers = load.stop()
    assert {a.status for a in answers} <= {200, None}
    assert sum(1 for a in answers if a.status == 200) > 10

    live.start(tmp_path)  # the same database and port, a new process
    with live.client(key) as api:
        settle_and_check(api, live.database_url, account, credit, answers)
    result = run_cli(live.database_url, "verify")
    assert result.returncode == 0, result.stdout + result.stderr
