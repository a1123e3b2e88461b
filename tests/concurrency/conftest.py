"""The race tests' own servers run unmeasured by coverage: they exercise the code paths of
tests/api again, only harder, and tracing their workers made this tier nearly twice as slow."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.servers import Server

# Set by coverage's `patch = ["subprocess"]` (pyproject.toml) for the processes to measure.
COVERAGE_ENV = "COVERAGE_PROCESS_CONFIG"


@pytest.fixture(scope="module", autouse=True)
def unmeasured_servers() -> Iterator[None]:
    # Module scope and autouse: in place before the modules' own server fixtures start.
    saved = os.environ.pop(COVERAGE_ENV, None)
    yield
    if saved is not None:
        os.environ[COVERAGE_ENV] = saved


@pytest.fixture(scope="module")
def pg_servers(
    request: pytest.FixtureRequest, pg_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Server]]:
    """Two independent `grantledger serve` processes on one PostgreSQL database (each a pool of
    5 connections), for one test module."""
    servers: list[Server] = []
    name = request.module.__name__.rsplit(".", 1)[-1]
    try:
        for n in range(2):
            state = tmp_path_factory.mktemp(f"{name}-{n}")
            server = Server(database_url=pg_url, clock_file=state / "clock")
            server.start(state)
            servers.append(server)
        yield servers
    finally:
        for server in servers:
            server.stop()
