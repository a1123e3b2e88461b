"""A throwaway PostgreSQL primary and a streaming replica of it, made by the tests on this
machine and removed after them (the shared server at 5432 takes no replication connections,
and its configuration is not the suite's to change).

`initdb` into a fresh directory, run as the `postgres` user (PostgreSQL refuses root), on a
free port of 127.0.0.1; the replica is `pg_basebackup -R` of it on another port. fsync is off:
these clusters hold nothing worth keeping and are gone when the session ends.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.pgbouncer import owned_directory, run_as, unavailable
from tests.servers import free_port

TOOLS = ("initdb", "pg_ctl", "pg_basebackup", "postgres")


def postgres_bindir() -> Path | None:
    """The directory holding PostgreSQL's server programs, newest version first."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    found = shutil.which("pg_ctl")
    if found:
        candidates.insert(0, str(Path(os.path.realpath(found)).parent))
    for directory in candidates:
        if all(os.access(Path(directory) / tool, os.X_OK) for tool in TOOLS):
            return Path(directory)
    return None


@dataclass
class Instance:
    bindir: Path
    data: Path
    port: int

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def ctl(self, *args: str) -> None:
        run(self.bindir / "pg_ctl", "-D", str(self.data), "-l", str(self.data / "log"), *args)

    def start(self) -> None:
        self.ctl("start", "-w", "-t", "60", "-o", f"-p {self.port}")

    def stop(self) -> None:
        self.ctl("stop", "-m", "immediate", "-w", "-t", "30")

    def log(self) -> str:
        path = self.data / "log"
        return path.read_text(errors="replace") if path.exists() else ""


def run(program: Path, *args: str) -> None:
    result = subprocess.run(
        [str(program), *args],
        user=run_as(),
        cwd="/tmp",  # the service user may not enter the checkout
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{program.name} {' '.join(args)}:\n{result.stdout}{result.stderr}")


@dataclass
class Cluster:
    primary: Instance
    replica: Instance
    root: Path

    def remove(self) -> None:
        for instance in (self.replica, self.primary):
            if not instance.data.exists():
                continue
            with contextlib.suppress(RuntimeError):  # already stopped
                instance.stop()
        shutil.rmtree(self.root, ignore_errors=True)


# Small and quick: a handful of connections, no durability.
SETTINGS = """
listen_addresses = '127.0.0.1'
unix_socket_directories = '{sockets}'
max_connections = 30
shared_buffers = 16MB
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = replica
max_wal_senders = 4
hot_standby = on
wal_receiver_status_interval = 1s
"""


def make_cluster(replica: bool = True, settings: str = "") -> Cluster:
    """A running primary (with `settings` added to its configuration) and, unless `replica` is
    False, a streaming replica of it; skips (fails in CI) where this machine has no PostgreSQL
    server programs."""
    bindir = postgres_bindir()
    if bindir is None:
        unavailable("PostgreSQL's server programs (initdb, pg_ctl, pg_basebackup) are missing")
    assert bindir is not None
    root = owned_directory("gl-cluster-")
    primary = Instance(bindir, root / "primary", free_port())
    replica = Instance(bindir, root / "replica", free_port())
    cluster = Cluster(primary, replica, root)
    try:
        run(bindir / "initdb", "-D", str(primary.data), "-U", "postgres", "--auth=trust", "-N")
        with (primary.data / "postgresql.conf").open("a") as conf:
            conf.write(SETTINGS.format(sockets=root) + settings)
        primary.start()
        if not replica:
            return cluster
        run(
            bindir / "pg_basebackup",
            *("-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres"),
            *("-D", str(replica.data), "-R", "-X", "stream", "--no-sync"),
        )
        replica.start()
    except BaseException:
        print((primary.log() + replica.log())[-4000:])
        cluster.remove()
        raise
    return cluster
