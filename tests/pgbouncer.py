"""A real PgBouncer in transaction pooling mode, started by the tests in front of a PostgreSQL
server and stopped after them (Debian's package, installed by `make pgbouncer`).

PgBouncer refuses to run as root, so when the suite runs as root it runs as the `postgres`
user, in a directory of its own that user may read.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import free_port

# CI sets it: there a machine that cannot run these tests is a failure, not a skip.
IN_CI = os.environ.get("CI") == "true"
# At most this many server connections PgBouncer opens to PostgreSQL (the shared server has
# 100 for every engineer's runs).
SERVER_CONNECTIONS = 5


def unavailable(reason: str) -> None:
    """Skip with `reason` printed, or fail in CI."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: required)")
    pytest.skip(reason)


def pgbouncer_binary() -> str | None:
    return shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer",) if os.access(p, os.X_OK)), None
    )


def run_as() -> str | None:
    """The user to run PostgreSQL's and PgBouncer's processes as: `postgres` when we are root
    (both refuse root), else ourselves (None)."""
    return "postgres" if os.geteuid() == 0 else None


def owned_directory(prefix: str) -> Path:
    """A fresh directory the service user owns (pytest's own are root's, mode 0700)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    user = run_as()
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    path.chmod(0o700)
    return path


def wait_for_port(port: int, seconds: float, process: subprocess.Popen[bytes]) -> bool:  # float-ok
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


@dataclass
class PgBouncer:
    """One PgBouncer process; `url(database)` is a PostgreSQL URL that goes through it."""

    directory: Path
    port: int
    process: subprocess.Popen[bytes]

    def url(self, database: str, user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def log(self) -> str:
        path = self.directory / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def start_pgbouncer(upstream_host: str, upstream_port: int) -> PgBouncer:
    """PgBouncer in transaction mode on a free port, forwarding every database to the upstream
    server as the client's own user (trust: the shared test server trusts 127.0.0.1). Skips
    (fails in CI) when PgBouncer is not installed."""
    binary = pgbouncer_binary()
    if binary is None:
        unavailable("pgbouncer is not installed (run `make pgbouncer` as root: Debian's package)")
    assert binary is not None
    directory = owned_directory("gl-pgbouncer-")
    port = free_port()
    (directory / "userlist.txt").write_text('"postgres" ""\n')
    (directory / "pgbouncer.ini").write_text(
        "\n".join(
            [
                "[databases]",
                f"* = host={upstream_host} port={upstream_port}",
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {port}",
                "unix_socket_dir =",
                "auth_type = trust",
                f"auth_file = {directory / 'userlist.txt'}",
                "pool_mode = transaction",
                f"default_pool_size = {SERVER_CONNECTIONS}",
                f"max_db_connections = {SERVER_CONNECTIONS}",
                "max_client_conn = 500",
                # Long enough for a pool of clients to queue behind a few server connections.
                "query_wait_timeout = 30",
                f"logfile = {directory / 'pgbouncer.log'}",
                f"pidfile = {directory / 'pgbouncer.pid'}",
                "",
            ]
        )
    )
    user = run_as()
    for name in ("userlist.txt", "pgbouncer.ini"):
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(directory / name, entry.pw_uid, entry.pw_gid)
    process = subprocess.Popen(
        [binary, str(directory / "pgbouncer.ini")],
        user=user,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    bouncer = PgBouncer(directory, port, process)
    if not wait_for_port(port, 15, process):
        log = bouncer.log()
        bouncer.stop()
        raise RuntimeError(f"pgbouncer did not start:\n{log}")
    return bouncer
