"""PostgreSQL disappears under load, behind a TCP proxy the test controls: first every
connection is reset (a crash), then everything is silently swallowed (a hung server or a
firewall dropping packets, the case only timeouts can end).

While it is away, every request answers 503 with Retry-After within a bound set by the
database timeouts, never 500 and never a hang; /healthz answers at once, /readyz says 503 and
then 200 as soon as it is back, with no restart. Afterwards nothing acknowledged is lost,
nothing is doubled, and `grantledger verify` is clean.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.faults.load import Answer, DebitLoad, settle_and_check
from tests.faults.proxy import FaultProxy
from tests.helpers import grant, new_account
from tests.servers import (
    PG_ADMIN_URL,
    Server,
    create_postgres_database,
    drop_postgres_database,
    run_cli,
)

# The server's defaults: connect 2 s, pool checkout 2 s, statement 2 s (+0.5 s client grace).
# A request that finds a pooled connection answers within 2.5 s; one that waits for the pool
# and then connects, within 4 s. The bound leaves room for a loaded test machine.
BOUND = 5.0  # float-ok: seconds
LIVENESS_BOUND = 0.5  # float-ok: seconds
OUTAGE = 3.0  # float-ok: seconds each fault lasts


@pytest.fixture
def outage(tmp_path: Path) -> Iterator[tuple[Server, FaultProxy, str]]:
    url = create_postgres_database()
    if url is None:
        pytest.skip("PostgreSQL unreachable")
    admin = urlsplit(PG_ADMIN_URL)
    proxy = FaultProxy(admin.hostname or "127.0.0.1", admin.port or 5432).start()
    proxied = url.replace(f"@{admin.hostname}:{admin.port}", f"@127.0.0.1:{proxy.port}")
    assert proxied != url
    # The production pool timeout: its bound is part of what is measured.
    server = Server(
        database_url=proxied,
        clock_file=tmp_path / "clock",
        env={"GRANTLEDGER_DB_POOL_TIMEOUT": "2"},
    )
    try:
        server.start(tmp_path)
        yield server, proxy, url
    finally:
        server.stop()
        proxy.stop()
        drop_postgres_database(url)


def _timed_get(server: Server, path: str) -> tuple[int, float]:  # float-ok: seconds
    started = time.monotonic()
    r = httpx.get(server.base_url + path, timeout=30)
    return r.status_code, time.monotonic() - started


def _wait_for(server: Server, path: str, status: int, within: float) -> float:  # float-ok
    """Seconds until `path` answers `status`; fails after `within`."""
    started = time.monotonic()
    while True:
        code, _ = _timed_get(server, path)
        waited = time.monotonic() - started
        if code == status:
            return waited
        assert waited < within, f"{path} still {code} after {waited:.1f} s"
        time.sleep(0.1)


def _fault(server: Server, load: DebitLoad, start: Callable[[], None], name: str) -> None:
    """Run one fault for OUTAGE seconds and check the operator endpoints during it."""
    before = load.count(503)
    start()
    code, seconds = _timed_get(server, "/healthz")
    assert (code, seconds < LIVENESS_BOUND) == (200, True), (name, code, seconds)
    _wait_for(server, "/readyz", 503, within=2.0)
    deadline = time.monotonic() + OUTAGE
    while time.monotonic() < deadline:
        code, seconds = _timed_get(server, "/healthz")
        assert code == 200 and seconds < LIVENESS_BOUND, (name, code, seconds)
        code, seconds = _timed_get(server, "/readyz")
        assert code == 503 and seconds < 2.0, (name, code, seconds)
        time.sleep(0.2)
    assert load.count(503) > before, f"no request noticed the {name}"


def test_cut_and_black_hole_answer_503_fast_and_lose_nothing(
    outage: tuple[Server, FaultProxy, str],
) -> None:
    server, proxy, direct_url = outage
    key = server.key()
    with server.client(key) as api:
        account = new_account(api)
        credit = grant(api, account, 100000)["id"]
        load = DebitLoad(server.base_url, key, account, threads=4).start()
        try:
            time.sleep(1)
            for name, start in (("cut", proxy.cut), ("black hole", proxy.black_hole)):
                _fault(server, load, start, name)
                proxy.restore()
                back = _wait_for(server, "/readyz", 200, within=5.0)
                assert back < 3.0, f"ready {back:.1f} s after the {name} ended"
                served = load.count(200)
                time.sleep(1)
                assert load.count(200) > served, f"no recovery after the {name}"
        finally:
            answers = load.stop()

        assert answers
        statuses = {a.status for a in answers}
        assert statuses <= {200, 503}, sorted(statuses, key=str)
        unavailable: list[Answer] = [a for a in answers if a.status == 503]
        for a in unavailable:
            assert a.retry_after is not None and int(a.retry_after) >= 1, a
            assert a.message and "Traceback" not in a.message, a
        slowest = max(a.seconds for a in answers)
        assert slowest < BOUND, sorted(answers, key=lambda a: -a.seconds)[:3]
        assert load.count(200) > 20

        settle_and_check(api, direct_url, account, credit, answers)
    result = run_cli(direct_url, "verify")
    assert result.returncode == 0, result.stdout + result.stderr
