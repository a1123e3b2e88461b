"""Real databases and real `grantledger serve` processes for the tests.

Every run gets its own PostgreSQL database (random name, dropped at the end) and its own
SQLite file; tenants isolate tests from each other inside one server.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from grantledger.clock import SystemClock
from grantledger.service.context import Context
from grantledger.service.operations import tenants
from grantledger.store.database import Database
from grantledger.store.engine import DatabaseOptions

PG_ADMIN_URL = os.environ.get(
    "GRANTLEDGER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("GRANTLEDGER_REQUIRE_POSTGRES") == "1"
# `pgbouncer`: the run's PostgreSQL cases go through a PgBouncer in transaction mode that the
# suite starts (tests/pgbouncer.py); tests/api/test_pooler.py runs a subset that way.
TEST_POOLER = os.environ.get("GRANTLEDGER_TEST_POOLER", "").strip().lower()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_postgres_database() -> str | None:
    """A fresh database's URL, or None when PostgreSQL cannot be reached."""
    name = "gl_test_" + secrets.token_hex(6)
    try:
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return None
    return _with_database(PG_ADMIN_URL, name)


def drop_postgres_database(url: str) -> None:
    name = url.rpartition("/")[2]
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def open_database(url: str) -> Database:
    """A `Database` on `url`, through the pooler the run's servers use if any (conftest.py
    sets GRANTLEDGER_DB_POOLER when GRANTLEDGER_TEST_POOLER asks for one)."""
    return Database(url, DatabaseOptions(pooler=os.environ.get("GRANTLEDGER_DB_POOLER") or None))


def make_key(database_url: str, org: str) -> str:
    async def work() -> str:
        ctx = Context(open_database(database_url), SystemClock())
        try:
            return await tenants.create_key(ctx, org)
        finally:
            await ctx.db.dispose()

    return asyncio.run(work())


@dataclass
class Server:
    """One `grantledger serve` process (possibly several workers) on a real port."""

    database_url: str
    clock_file: Path
    workers: int = 1
    log_level: str = "warning"
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    # More environment for the server process (it wins over the defaults below).
    env: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, log_dir: Path) -> None:
        env = {
            **os.environ,
            "GRANTLEDGER_DATABASE_URL": self.database_url,
            "GRANTLEDGER_CLOCK_FILE": str(self.clock_file),
            "GRANTLEDGER_SWEEP_INTERVAL": os.environ.get("GRANTLEDGER_TEST_SWEEP_INTERVAL", "0"),
            "GRANTLEDGER_LOG_LEVEL": self.log_level,
            # A small pool per worker keeps the whole suite within a few dozen PostgreSQL
            # connections on a shared server. The race tests send dozens of requests at once
            # through it, so on a loaded machine a request may queue longer than the
            # production default of 2 s; it waits, since overload is not what they test.
            "GRANTLEDGER_DB_POOL_SIZE": os.environ.get("GRANTLEDGER_TEST_POOL_SIZE", "5"),
            "GRANTLEDGER_DB_POOL_TIMEOUT": "15",
            "GRANTLEDGER_WEBHOOK_ALLOW_PRIVATE": "1",  # receivers listen on 127.0.0.1
            # Off like the sweeper: its idle polls would show in the tests that count queries.
            "GRANTLEDGER_WEBHOOK_WORKER": os.environ.get("GRANTLEDGER_TEST_WEBHOOK_WORKER", "0"),
            # A key made at start is written here, not into the checkout's ./data.
            "GRANTLEDGER_BOOTSTRAP_KEY_FILE": str(log_dir / f"bootstrap-key-{self.port}"),
            **self.env,
        }
        self.log_path = log_dir / f"server-{self.port}.log"
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "grantledger",
                "serve",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log_path.read_text()}")
            try:
                if httpx.get(self.base_url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server did not become ready:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def key(self, org: str | None = None) -> str:
        return make_key(self.database_url, org or ("org-" + secrets.token_hex(6)))

    def client(self, key: str | None = None) -> httpx.Client:
        token = key if key is not None else self.key()
        return httpx.Client(
            base_url=self.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def set_clock(self, instant: str | None) -> None:
        """Freeze every worker's clock at an ISO instant (None: back to the system clock)."""
        self.clock_file.write_text(instant or "")


def run_cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GRANTLEDGER_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "grantledger", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def iter_pages(client: httpx.Client, path: str, **params: object) -> Iterator[dict[str, object]]:
    token = None
    while True:
        # The callers pass query values httpx accepts; `object` only keeps their types open.
        query: dict[str, Any] = {k: v for k, v in params.items() if v is not None}
        if token:
            query["nextToken"] = token
        body = client.get(path, params=query).json()
        yield from body.get("data", [])
        token = body.get("nextToken")
        if not token:
            return
