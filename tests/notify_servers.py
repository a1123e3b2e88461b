"""Servers for the notification tests: their own fresh database, fast retries, private URLs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import Server, create_postgres_database, drop_postgres_database, run_cli

FAST = {
    "GRANTLEDGER_WEBHOOK_ALLOW_PRIVATE": "1",
    "GRANTLEDGER_WEBHOOK_RETRY_SECONDS": "1,1",
    "GRANTLEDGER_WEBHOOK_POLL_INTERVAL": "0.2",
    "GRANTLEDGER_WEBHOOK_TIMEOUT": "3",
    "GRANTLEDGER_WEBHOOK_WORKER": "1",
}


def fresh_database(backend: str, directory: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'notify.db'}"
        return
    url = create_postgres_database()
    if url is None:
        pytest.skip("PostgreSQL unreachable")
    try:
        yield url
    finally:
        drop_postgres_database(url)


def notify_server(url: str, directory: Path, **env: str) -> Server:
    server = Server(
        database_url=url,
        clock_file=directory / "clock",
        env={**FAST, "GRANTLEDGER_SECRET_KEY_FILE": str(directory / "server.key"), **env},
    )
    server.start(directory)
    return server


def assert_verified(url: str) -> None:
    result = run_cli(url, "verify")
    assert result.returncode == 0, result.stdout + result.stderr
