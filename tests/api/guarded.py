"""A `grantledger serve` with chosen connection and rate limits, for the tests in this folder."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.servers import Server


@contextmanager
def serving(
    database_url: str, state: Path, workers: int = 1, log_level: str = "warning", **env: str
) -> Iterator[Server]:
    """A server started with `env` added to its environment (Server.start copies os.environ)."""
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    srv = Server(
        database_url=database_url,
        clock_file=state / "clock",
        workers=workers,
        log_level=log_level,
        env=dict(env),  # wins over the test defaults Server.start sets (e.g. the pool size)
    )
    try:
        srv.start(state)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    try:
        yield srv
    finally:
        srv.stop()


def connect(srv: Server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    return sock


def read_until_closed(sock: socket.socket, within: float) -> tuple[bytes, bool, float]:  # float-ok
    """What the server sends, whether it closed the connection within `within` s, and when."""
    started = time.monotonic()
    deadline = started + within
    chunks = []
    closed = False
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        chunks.append(chunk)
    return b"".join(chunks), closed, time.monotonic() - started
