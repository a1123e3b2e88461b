"""Fixtures: a real server per database backend, a fresh tenant per test, the client's retry
waits recorded instead of slept; and the Hypothesis profiles."""

from __future__ import annotations

import os
from collections.abc import Iterator
from types import SimpleNamespace

import httpx
import pytest
from hypothesis import settings
from sqlalchemy.engine import make_url

from grantledger.client import api_client
from grantledger.store.engine import PGBOUNCER
from tests.pgbouncer import start_pgbouncer
from tests.servers import (
    REQUIRE_POSTGRES,
    TEST_POOLER,
    Server,
    create_postgres_database,
    drop_postgres_database,
    run_cli,
)

# Hypothesis profiles. A property test asks for a multiple of the profile's `max_examples`
# (`2 * settings.default.max_examples`), so one switch scales every test and keeps their
# relative weights: `dev` (the default) is a quarter of Hypothesis' own 100, quick enough for
# `make unit` in seconds; `ci` (HYPOTHESIS_PROFILE=ci, exported by .ci/run) is Hypothesis' own
# 100, four times it (200 until the suite passed 1,800 tests and 15 minutes).
# No deadline: the machine running the suite is shared, and a slow example is not a failure.
settings.register_profile("dev", max_examples=25, deadline=None)
settings.register_profile("ci", max_examples=100, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

BACKENDS = ["sqlite", "postgres"]
# Backends whose shared database a server migrated and the suite wrote to: verified at the end.
_SERVED: set[str] = set()


@pytest.fixture(scope="session")
def database_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str | None]]:
    sqlite_path = tmp_path_factory.mktemp("sqlite") / "grantledger.db"
    pg_url = create_postgres_database()
    if pg_url is None and REQUIRE_POSTGRES:
        pytest.exit("PostgreSQL is required (GRANTLEDGER_REQUIRE_POSTGRES=1) but unreachable", 3)
    bouncer = None
    served_url = pg_url
    if pg_url is not None and TEST_POOLER == PGBOUNCER:
        # Every PostgreSQL case of the run goes through a real PgBouncer in transaction mode,
        # and every server, CLI and key the run makes uses the pooler's settings.
        upstream = make_url(pg_url)
        bouncer = start_pgbouncer(upstream.host or "127.0.0.1", upstream.port or 5432)
        served_url = bouncer.url(upstream.database or "postgres")
        os.environ["GRANTLEDGER_DB_POOLER"] = PGBOUNCER
    urls: dict[str, str | None] = {"sqlite": f"sqlite:///{sqlite_path}", "postgres": served_url}
    yield urls
    try:
        # Everything the suite did through the API must still add up, on both databases.
        for backend, url in urls.items():
            if url is None or backend not in _SERVED:
                continue
            result = run_cli(url, "verify")
            assert result.returncode == 0, (
                f"grantledger verify after the whole suite ({backend}):\n"
                f"{result.stdout}{result.stderr}"
            )
    finally:
        if bouncer is not None:
            # The run's connections really went through it: PgBouncer logs each login.
            through = f"login attempt: db={make_url(served_url or '').database} " in bouncer.log()
            bouncer.stop()
            assert through, "GRANTLEDGER_TEST_POOLER=pgbouncer, but nothing logged in through it"
        if pg_url is not None:
            drop_postgres_database(pg_url)


def database_url_for(backend: str, urls: dict[str, str | None]) -> str:
    url = urls[backend]
    if url is None:
        pytest.skip("PostgreSQL unreachable (set GRANTLEDGER_REQUIRE_POSTGRES=1 to fail instead)")
    return url


@pytest.fixture(scope="session", params=BACKENDS)
def server(
    request: pytest.FixtureRequest,
    database_urls: dict[str, str | None],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    url = database_url_for(request.param, database_urls)
    _SERVED.add(request.param)
    state = tmp_path_factory.mktemp(f"server-{request.param}")
    srv = Server(database_url=url, clock_file=state / "clock")
    srv.start(state)
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def pg_url(database_urls: dict[str, str | None]) -> str:
    return database_url_for("postgres", database_urls)


@pytest.fixture
def api(server: Server) -> Iterator[httpx.Client]:
    """A client authenticated as a brand-new organization."""
    with server.client() as client:
        yield client
    server.set_clock(None)


@pytest.fixture
def clock(server: Server) -> Iterator[Server]:
    """Freeze the server's clock; restored to the system clock after the test."""
    yield server
    server.set_clock(None)


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:  # float-ok: seconds
    """The waits the client's retries asked for (sync and async), recorded instead of slept."""
    waits: list[float] = []  # float-ok: seconds

    async def async_sleep(seconds: float) -> None:  # float-ok: seconds
        waits.append(seconds)

    # Only the client's own module sees these: the rest of the process sleeps as usual.
    monkeypatch.setattr(api_client, "time", SimpleNamespace(sleep=waits.append))
    monkeypatch.setattr(api_client, "asyncio", SimpleNamespace(sleep=async_sleep))
    return waits


def pytest_report_header() -> list[str]:
    return [f"grantledger test backends: {', '.join(BACKENDS)}"]
