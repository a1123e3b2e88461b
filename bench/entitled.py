"""Benchmark of the real-time gate, `POST /entitled`, against PostgreSQL's own ceiling.

One run measures the `--modes` side by side (default: spread, hot), each on a fresh database:
1. starts a real `grantledger serve` process on it (`--workers`; SQLite modes
   `--sqlite-workers`), as a user would;
2. through the HTTP API, creates an event schema, one metered feature consuming it, and the
   accounts (`--accounts` for spread and plan-spread, one for hot), each holding one entry of
   plenty of units (plan-spread: each on a monthly BILLING plan of plenty of units per cycle,
   assigned today, so that every batch goes through the gate's plan-cycle step);
3. drives `POST /entitled` from `--clients` concurrent clients for `--seconds` (after a short
   warm-up; on PostgreSQL the warm-up is followed by an ANALYZE, the statistics autovacuum
   takes within a new database's first minute, unless `--no-analyze`), each one keep-alive
   HTTP/1.1 connection written to with prepared bytes (`Wire`,
   so the generator takes little of the CPUs the server shares), each event drawing 1 unit
   from a random account, and checks afterwards that the ledger holds exactly the accepted
   events;
4. then the ceiling: `pgbench` on the minimal tables of issue 13 in a fresh database of its own
   (`MINIMAL_SQL`: the essential per-event transaction, which no schema choice of the product
   can lower), and, as a second figure, on the spread run's database with the transaction an
   accepted event writes in the product's schema (`CEILING_SQL`);
5. prints per mode accepted events/s, p50/p99, the ratio to the ceiling, the events per commit
   and where the CPU went (server, load generator, PostgreSQL, machine), and a summary table.

Usage: .venv/bin/python bench/entitled.py [--clients 16] [--accounts 1000] [--seconds 15]
       [--workers 2] [--sqlite-workers 1]
       [--modes spread,hot,plan-spread,sqlite-spread,sqlite-hot]
       [--no-analyze].
Set GRANTLEDGER_BENCH_POSTGRES_URL to use another server (default: the test suite's
GRANTLEDGER_TEST_POSTGRES_URL, else postgres@127.0.0.1:5432).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import random
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import asyncpg
import httpx

PG_ADMIN_URL = os.environ.get(
    "GRANTLEDGER_BENCH_POSTGRES_URL",
    os.environ.get(
        "GRANTLEDGER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    ),
)
SCHEMA = "bench_calls"
ATTRIBUTE = "units"
FEATURE = "bench-units"
GRANTED = 1_000_000_000  # never runs out during a run
WARMUP_SECONDS = 2.0
T = TypeVar("T")

# What one accepted event writes in grantledger (service/entitlements/events.py,
# store/pg/gate.py, tables of migrations 0002 and 0010), as one transaction: lock the
# account's usable entries of the
# feature in the product's lock order, claim the event id (the dedup primary key), record the
# event, raise the entry's `used`, append the draw: 7 round trips. The reads the product also
# does (schema → features, account exists, plan cycles) are left out on purpose: the ceiling is
# the locking write set alone, so the ratio shows what everything else costs. Ids are random
# 63-bit numbers drawn by pgbench itself (no extra round trip), prefixed by the client number.
CEILING_SQL = """\
\\set a random(1, :naccounts)
\\set r random(1, 9223372036854775806)
BEGIN;
SELECT id AS entry FROM feature_entries
 WHERE org_id = :org AND account_id = 'acc-' || (:a)::text AND feature_id = :feature
   AND voided_at IS NULL AND effective_from <= now()
   AND (effective_until IS NULL OR effective_until > now())
 ORDER BY feature_id, id FOR UPDATE \\gset
INSERT INTO event_ids (org_id, event_id, received_at)
VALUES (:org, 'pgb-' || (:client_id)::text || '-' || (:r)::text, now());
INSERT INTO events (id, org_id, event_id, account_id, schema_name, timestamp, accepted, reason,
                    payload, received_at)
VALUES ('evt.' || (:client_id)::text || '.' || (:r)::text, :org,
        'pgb-' || (:client_id)::text || '-' || (:r)::text, 'acc-' || (:a)::text, :schema, now(),
        true, NULL,
        '{"schemaName":"bench_calls","id":"run-1","timestamp":"2026-01-01T00:00:00+00:00",
          "accountId":"acc-1","attributes":[{"name":"units","value":"1"}],"dimensions":{}}',
        now());
UPDATE feature_entries SET used = used + 1, updated_at = now()
 WHERE org_id = :org AND account_id = 'acc-' || (:a)::text AND feature_id = :feature
   AND id = :entry;
INSERT INTO draws (event_pk, seq, org_id, account_id, feature_id, entry_id, amount, created_at,
                   occurred_at, plan)
VALUES ('evt.' || (:client_id)::text || '.' || (:r)::text, 0, :org, 'acc-' || (:a)::text,
        :feature, :entry, 1, now(), now(), false);
END;
"""


# The essential per-event transaction on minimal tables, in a database of its own (issue 13):
# no schema choice of the product can lower this bar. Lock the account's usable entries, record
# the event under its dedup key, raise `used`, append the draw.
MINIMAL_SCHEMA = """\
CREATE TABLE entries (id bigserial PRIMARY KEY, account_id int, feature_id int, granted numeric,
                      used numeric, effective_until timestamptz);
CREATE INDEX ON entries (account_id, feature_id);
CREATE TABLE events (org int, id text, account_id int, ts timestamptz, body jsonb,
                     PRIMARY KEY (org, id));
CREATE TABLE draws (id bigserial PRIMARY KEY, event_id text, entry_id bigint, amount numeric);
"""
MINIMAL_SQL = """\
\\set a random(1, :naccounts)
\\set r random(1, 9223372036854775806)
BEGIN;
SELECT id AS entry FROM entries WHERE account_id = :a AND feature_id = 1
   AND effective_until > now() ORDER BY effective_until, id FOR UPDATE \\gset
INSERT INTO events (org, id, account_id, ts, body)
VALUES (1, (:client_id)::text || '-' || (:r)::text, :a, now(),
        '{"schemaName":"bench_calls","id":"run-1","timestamp":"2026-01-01T00:00:00+00:00",
          "accountId":"acc-1","attributes":[{"name":"units","value":"1"}],"dimensions":{}}');
UPDATE entries SET used = used + 1 WHERE id = :entry;
INSERT INTO draws (event_id, entry_id, amount)
VALUES ((:client_id)::text || '-' || (:r)::text, :entry, 1);
END;
"""

# mode → (backend, one account?, units from a BILLING plan's cycle instead of a granted entry?)
MODES = {
    "spread": ("postgres", False, False),
    "hot": ("postgres", True, False),
    "plan-spread": ("postgres", False, True),
    "sqlite-spread": ("sqlite", False, False),
    "sqlite-hot": ("sqlite", True, False),
}


@dataclass
class LoadResult:
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    samples: list[str] = field(default_factory=list)  # a few answers other than 200
    # CPU seconds spent during the run, where /proc can tell (Linux).
    server_cpu: float | None = None
    generator_cpu: float | None = None
    database_cpu: float | None = None
    machine: MachineLoad | None = None
    sessions_opened: int | None = None
    rollbacks: int | None = None
    deadlocks: int | None = None
    commits: int | None = None

    @property
    def accepted(self) -> int:
        return self.statuses.get(200, 0)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (and pgbench)")
    parser.add_argument("--accounts", type=int, default=1000, help="accounts the events spread on")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each measured run")
    parser.add_argument("--workers", type=int, default=2, help="`grantledger serve --workers`")
    parser.add_argument(
        "--sqlite-workers",
        type=int,
        default=1,
        help="workers of the SQLite modes (one writer at a time: more processes only queue in "
        "SQLite's busy handler)",
    )
    parser.add_argument(
        "--no-analyze",
        action="store_true",
        help="measure a new PostgreSQL database's first minute: no ANALYZE after the warm-up, "
        "so no table has statistics unless autovacuum has come by",
    )
    parser.add_argument(
        "--modes",
        default="spread,hot",
        help="comma-separated, run side by side: spread (--accounts accounts), hot (one "
        "account), plan-spread (--accounts accounts on a BILLING plan), sqlite-spread, "
        "sqlite-hot (the embedded default database)",
    )
    args = parser.parse_args()
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for mode in args.modes:
        if mode not in MODES:
            parser.error(f"--modes: unknown mode {mode}; choose from {', '.join(MODES)}")
    for name in ("clients", "accounts", "workers"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.seconds <= 0:
        parser.error("--seconds must be positive")
    return args


# --- where the CPU goes (Linux /proc; None elsewhere) -------------------------------------------


def _ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def tree_cpu(pid: int) -> float | None:
    """CPU seconds used so far by a process and its descendants that are still alive."""
    try:
        total, todo = 0, [pid]
        while todo:
            current = todo.pop()
            total += _ticks(current)
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
            todo.extend(int(c) for c in children)
        return total / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def pids_cpu(pids: list[int]) -> dict[int, float]:
    found: dict[int, float] = {}
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            found[pid] = _ticks(pid) / os.sysconf("SC_CLK_TCK")
    return found


@dataclass(frozen=True)
class MachineLoad:
    busy: float  # CPU seconds all processes used
    wall: float
    cpus: int


def machine_ticks() -> tuple[int, int] | None:
    """(busy, total) jiffies of the whole machine."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


def machine_load(before: tuple[int, int] | None, wall: float) -> MachineLoad | None:
    after = machine_ticks()
    if before is None or after is None:
        return None
    busy = (after[0] - before[0]) / os.sysconf("SC_CLK_TCK")
    return MachineLoad(busy=busy, wall=wall, cpus=os.cpu_count() or 1)


# --- database -----------------------------------------------------------------------------------


def database_url(name: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


async def admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def ledger_totals(url: str, org_id: str) -> tuple[int, int, Decimal]:
    """(accepted events, draws, Σ used) as PostgreSQL holds them."""
    conn = await asyncpg.connect(url, timeout=10)
    try:
        events = await conn.fetchval(
            "SELECT count(*) FROM events WHERE org_id = $1 AND accepted", org_id
        )
        draws = await conn.fetchval("SELECT count(*) FROM draws WHERE org_id = $1", org_id)
        used = await conn.fetchval(
            "SELECT coalesce(sum(used), 0) FROM feature_entries WHERE org_id = $1", org_id
        )
        return int(events), int(draws), Decimal(used)
    finally:
        await conn.close()


async def backend_pids(url: str) -> list[int]:
    """PostgreSQL backends serving this database (the server's pool), for their CPU time."""
    conn = await asyncpg.connect(url, timeout=10)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        return [int(r["pid"]) for r in rows]
    finally:
        await conn.close()


async def analyze(url: str) -> None:
    """Statistics of every table, taken after the warm-up has written events, draws and claims:
    the steady state autovacuum reaches within a minute of a new database's first writes
    (`autovacuum_naptime`; 50 changed rows start an ANALYZE of a new table). Without them the
    measured ten seconds are that first minute: PostgreSQL's generic plans, made without
    statistics, read a whole organization's entries per batch (docs/benchmarks.md, Plans)."""
    conn = await asyncpg.connect(url, timeout=10)
    try:
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def database_counters(url: str) -> tuple[int, int, int, int]:
    """(connections opened, transactions rolled back, deadlocks, transactions committed) since
    the database was made.

    Pool churn shows in the first; retried transactions (and refusals) in the second; the last
    tells how many events the group commit put in one transaction.
    """
    conn = await asyncpg.connect(url, timeout=10)
    try:
        row = await conn.fetchrow(
            "SELECT sessions, xact_rollback, deadlocks, xact_commit FROM pg_stat_database "
            "WHERE datname = current_database()"
        )
        assert row is not None
        return (
            int(row["sessions"] or 0),
            int(row["xact_rollback"]),
            int(row["deadlocks"]),
            int(row["xact_commit"]),
        )
    finally:
        await conn.close()


async def bench_org(url: str) -> str:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        return str(await conn.fetchval("SELECT id FROM organizations WHERE name = 'default'"))
    finally:
        await conn.close()


# --- server -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """`grantledger serve` exactly as a user starts it, on loopback."""

    def __init__(
        self, url: str, workers: int, key: str, log_path: Path, clock_file: Path | None = None
    ) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        env = {
            key_: value
            for key_, value in os.environ.items()
            if key_ != "GRANTLEDGER_CLOCK_FILE"  # a file clock would add a read per `now()`
        }
        if clock_file is not None:  # set-up only (bench/reads.py travels back to assign a plan)
            env["GRANTLEDGER_CLOCK_FILE"] = str(clock_file)
        # The rate limit is off: the benchmark is one key driving the server as hard as it can.
        env |= {
            "GRANTLEDGER_DATABASE_URL": url,
            "GRANTLEDGER_BOOTSTRAP_KEY": key,
            "GRANTLEDGER_RATE_LIMIT": "0",
        }
        command = [sys.executable, "-m", "grantledger", "serve", "--port", str(self.port)]
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [*command, "--workers", str(workers)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("server exited early:\n" + self.log_path.read_text())
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.base_url + "/readyz", timeout=1).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError("server did not become ready:\n" + self.log_path.read_text())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


# --- setup and load -----------------------------------------------------------------------------


def account_id(n: int) -> str:
    return f"acc-{n}"


async def expect(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code}: {response.text}"
        )


async def set_up(sessions: list[httpx.AsyncClient], accounts: int, on_plan: bool) -> None:
    """The schema, the feature and the accounts; each account's units come from one granted
    entry, or (`on_plan`) from the current monthly cycle of a BILLING plan assigned today, so
    that every batch goes through the plan-cycle step of the gate."""
    client = sessions[0]
    await expect(
        await client.post(
            "/event_schema",
            json={"name": SCHEMA, "attributes": [{"name": ATTRIBUTE}], "dimensions": []},
        ),
        201,
    )
    await expect(
        await client.post(
            "/features",
            json={
                "id": FEATURE,
                "name": "Bench units",
                "valueType": "NUMERIC",
                "schemaAssociations": [{"schemaName": SCHEMA, "attributeName": ATTRIBUTE}],
            },
        ),
        200,
    )

    plan_id = ""
    if on_plan:
        plan = await client.post(
            "/entitlement_plans",
            json={
                "name": "Bench plan",
                "type": "BILLING",
                "cycle": "MONTHLY",
                "features": [{"featureId": FEATURE, "creditsPerCycle": GRANTED}],
            },
        )
        await expect(plan, 200)
        plan_id = plan.json()["id"]
    today = datetime.now(UTC).date().isoformat()

    async def one(n: int) -> None:
        client = sessions[n % len(sessions)]
        async with gates[n % len(sessions)]:
            await expect(
                await client.post(
                    "/customers",
                    json={
                        "id": f"cus-{n}",
                        "name": f"Customer {n}",
                        "primaryEmail": "billing@example.com",
                        "address": {"country": "US"},
                        "account": {"id": account_id(n), "name": f"Account {n}"},
                    },
                ),
                201,
            )
            if on_plan:
                units = client.post(
                    f"/accounts/{account_id(n)}/plans",
                    json={"planId": plan_id, "effectiveFrom": today},
                )
            else:
                units = client.post(
                    f"/accounts/{account_id(n)}/features/{FEATURE}/entries",
                    json={"granted": GRANTED, "effectiveFrom": "2020-01-01T00:00:00Z"},
                )
            await expect(await units, 200)

    gates = [asyncio.Semaphore(1) for _ in sessions]
    await asyncio.gather(*(one(n) for n in range(1, accounts + 1)))


class Wire:
    """One keep-alive HTTP/1.1 connection posting `/entitled`, with as little Python as it takes.

    The load generator shares the 2 CPUs with the server and PostgreSQL, so every cycle it
    spends is taken from the product (httpx cost ~1 ms of CPU per request here). Requests are
    written as prepared bytes; answers are read as status line + headers + Content-Length body.
    """

    def __init__(self, host: str, port: int, key: str) -> None:
        self.host, self.port = host, port
        self.head = (
            f"POST /entitled HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
            "Content-Length: "
        ).encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def post(self, body: bytes) -> tuple[int, bytes]:
        if self.reader is None or self.writer is None:
            await self.connect()
        assert self.reader is not None and self.writer is not None
        self.writer.write(b"%s%d\r\n\r\n%s" % (self.head, len(body), body))
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])  # "HTTP/1.1 200 OK"
        lowered = head.lower()
        at = lowered.find(b"\r\ncontent-length:")
        if at < 0:
            raise WireError("answer without Content-Length")
        length = int(lowered[at + 17 : lowered.index(b"\r\n", at + 2)])
        answer = await self.reader.readexactly(length)
        if b"\r\nconnection: close" in lowered:
            await self.close()
        return status, answer

    async def close(self) -> None:
        writer, self.reader, self.writer = self.writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


class WireError(Exception):
    pass


# The event as the product receives it; only id, timestamp and account vary.
EVENT_BODY = (
    '{"event":{"schemaName":"' + SCHEMA + '","id":"%s","timestamp":"%s","accountId":"%s",'
    '"attributes":[{"name":"' + ATTRIBUTE + '","value":"1"}],"dimensions":{}}}'
)


async def drive(wires: list[Wire], accounts: int, seconds: float, run: str) -> LoadResult:
    """One loop per connection, each posting one event at a time until the deadline."""
    sequence = itertools.count()
    result = LoadResult(seconds=seconds)
    started = time.perf_counter()
    deadline = started + seconds
    body_of = EVENT_BODY.__mod__

    async def loop(wire: Wire) -> None:
        rng = random.Random()
        latencies = result.latencies_ms
        statuses = result.statuses
        while time.perf_counter() < deadline:
            body = body_of(
                (
                    f"{run}-{next(sequence)}",
                    datetime.now(UTC).isoformat(),
                    account_id(rng.randint(1, accounts)),
                )
            ).encode()
            sent = time.perf_counter()
            try:
                status, answer = await wire.post(body)
            except (
                OSError,
                asyncio.IncompleteReadError,
                asyncio.LimitOverrunError,
                ValueError,
                WireError,
            ) as error:
                name = type(error).__name__
                result.errors[name] = result.errors.get(name, 0) + 1
                await wire.close()
                continue
            elapsed_ms = (time.perf_counter() - sent) * 1000
            statuses[status] = statuses.get(status, 0) + 1
            if status == 200:
                latencies.append(elapsed_ms)
            elif len(result.samples) < 5:
                result.samples.append(f"{status} {answer[:200]!r}")

    await asyncio.gather(*(loop(wire) for wire in wires))
    result.seconds = time.perf_counter() - started
    return result


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")  # float-ok: milliseconds, not money
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


async def measure_product(
    server: ServerProcess, url: str | None, key: str, args: argparse.Namespace
) -> tuple[LoadResult, int]:
    """Set up, warm up and drive the load; `url` (PostgreSQL) adds its backends' CPU and
    counters, None (SQLite: the database works inside the server's processes) leaves them out."""
    # Set-up through httpx (convenient, not measured); one client per connection.
    sessions = [
        httpx.AsyncClient(
            base_url=server.base_url,
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )
        for _ in range(args.clients)
    ]
    try:
        t0 = time.perf_counter()
        await set_up(sessions, args.accounts, args.on_plan)
        print(f"set up {args.accounts} accounts in {time.perf_counter() - t0:.1f} s", flush=True)
    finally:
        for session in sessions:
            await session.aclose()
    # The measured load: one lean keep-alive connection per simulated caller.
    wires = [Wire("127.0.0.1", server.port, key) for _ in range(args.clients)]
    try:
        warm = await drive(wires, args.accounts, WARMUP_SECONDS, "warm")
        if url and not args.no_analyze:
            await analyze(url)
        backends = await backend_pids(url) if url else []
        sessions0, rollbacks0, deadlocks0, commits0 = (
            await database_counters(url) if url else (0, 0, 0, 0)
        )
        server0, db0, gen0 = tree_cpu(server.process.pid), pids_cpu(backends), time.process_time()
        machine0 = machine_ticks()
        result = await drive(wires, args.accounts, args.seconds, "run")
        result.machine = machine_load(machine0, result.seconds)
        result.generator_cpu = time.process_time() - gen0
        server1 = tree_cpu(server.process.pid)
        if server0 is not None and server1 is not None:
            result.server_cpu = server1 - server0
        # Our own probe connection counts as one session. PostgreSQL's statistics lag by up to
        # half a second; the pause lets the run's last transactions be counted.
        if url:
            await asyncio.sleep(1)
            sessions1, rollbacks1, deadlocks1, commits1 = await database_counters(url)
            result.sessions_opened = sessions1 - sessions0 - 1
            # Our probe's own transactions (one per counters read) are left out.
            result.commits = commits1 - commits0 - 1
            result.rollbacks = rollbacks1 - rollbacks0
            result.deadlocks = deadlocks1 - deadlocks0
        db1 = pids_cpu(backends)
        if db1:
            result.database_cpu = sum(v - db0.get(pid, 0.0) for pid, v in db1.items())
    finally:
        for wire in wires:
            await wire.close()
    return result, warm.accepted


# --- ceiling ------------------------------------------------------------------------------------


def run_pgbench(
    url: str, sql: str, defines: dict[str, object], args: argparse.Namespace
) -> tuple[float, tuple[float, float] | None]:
    pgbench = shutil.which("pgbench") or "/usr/bin/pgbench"
    parts = urlsplit(url)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(sql)
    try:
        command = [
            pgbench,
            "--no-vacuum",
            "--protocol=prepared",  # asyncpg prepares and caches its statements too
            f"--client={args.clients}",
            f"--jobs={min(args.clients, os.cpu_count() or 1)}",
            f"--time={max(1, round(args.seconds))}",
            f"--file={script.name}",
            *(f"--define={k}={v}" for k, v in defines.items()),
            f"--host={parts.hostname or '127.0.0.1'}",
            f"--port={parts.port or 5432}",
            f"--username={parts.username or 'postgres'}",
            parts.path.lstrip("/"),
        ]
        env = dict(os.environ)
        if parts.password:
            env["PGPASSWORD"] = parts.password
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        try:
            own = sample_pgbench_cpu(process.pid, url, args.seconds)
            stdout, stderr = process.communicate(timeout=args.seconds + 120)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
    finally:
        Path(script.name).unlink(missing_ok=True)
    if process.returncode != 0:
        raise RuntimeError(f"pgbench failed ({process.returncode}):\n{stdout}\n{stderr}")
    found = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", stdout)
    failed = re.search(r"number of failed transactions: (\d+)", stdout)
    if found is None:
        raise RuntimeError("no TPS in pgbench output:\n" + stdout)
    if failed is not None and int(failed.group(1)) > 0:
        raise RuntimeError("pgbench transactions failed:\n" + stdout)
    return float(found.group(1)), own  # float-ok: a rate, not money


def sample_pgbench_cpu(pid: int, url: str, seconds: float) -> tuple[float, float] | None:
    """(CPUs pgbench and its backends used, CPUs the machine used) over the middle of its run.

    Tells whether the ceiling was measured on a quiet machine. Backends are looked up once
    pgbench has connected, and read again before it ends (they exit with it).
    """
    time.sleep(min(1.0, seconds / 4))
    backends = asyncio.run(backend_pids(url))
    first, machine0, started = pids_cpu([pid, *backends]), machine_ticks(), time.perf_counter()
    time.sleep(max(0.5, seconds - 2.0))
    last, wall = pids_cpu([pid, *backends]), time.perf_counter() - started
    machine = machine_load(machine0, wall)
    if machine is None or not last:
        return None
    used = sum(v - first.get(p, v) for p, v in last.items())
    return used / wall, machine.busy / wall


def run_fast(work: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop when it is there (uvicorn[standard] brings it): the load generator
    shares the CPUs with the server, so every cycle it spends is taken from the product."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(work)
    return uvloop.run(work)


# --- main ---------------------------------------------------------------------------------------


def print_cpu(result: LoadResult, pgbench_machine: MachineLoad | None) -> None:
    """Where the CPU went during the measured product run, per accepted event."""
    if not result.accepted:
        return
    parts = [
        ("server", result.server_cpu),
        ("load generator", result.generator_cpu),
        ("PostgreSQL backends (pooled ones)", result.database_cpu),
    ]
    shown = [f"{name} {1000 * cpu / result.accepted:.2f}" for name, cpu in parts if cpu is not None]
    print("CPU ms per accepted event: " + ", ".join(shown))
    if result.sessions_opened is not None:
        print(
            f"during the product run, PostgreSQL saw {result.sessions_opened} new connections, "
            f"{result.rollbacks} rolled-back transactions, {result.deadlocks} deadlocks, "
            f"{result.commits} commits ({result.accepted / max(1, result.commits or 0):.1f} "
            "accepted events per commit)"
        )
    own = sum(cpu for _, cpu in parts if cpu is not None) / result.seconds
    print(f"CPUs used by this benchmark's processes during the product run: {own:.2f}")
    for label, load in (("product run", result.machine), ("pgbench run", pgbench_machine)):
        if load is not None:
            print(
                f"machine during {label}: {load.busy / load.wall:.2f} of {load.cpus} CPUs busy "
                "(all processes, other users' included)"
            )


@dataclass
class ModeRun:
    mode: str
    result: LoadResult
    ledger: str


def sqlite_totals(path: Path) -> tuple[int, int, Decimal]:
    """(accepted events, draws, Σ used) as the SQLite file holds them (one organization)."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(path)) as conn:
        events = conn.execute("SELECT count(*) FROM events WHERE accepted").fetchone()[0]
        draws = conn.execute("SELECT count(*) FROM draws").fetchone()[0]
        used = sum(
            (Decimal(v) for (v,) in conn.execute("SELECT used FROM feature_entries")), Decimal(0)
        )
    return int(events), int(draws), used


def run_mode(mode: str, args: argparse.Namespace, workdir: Path) -> tuple[ModeRun, str | None]:
    """One mode on a fresh database; returns the run and, for `spread`, the PostgreSQL
    database kept for the product-schema ceiling (the caller drops it)."""
    backend, hot, on_plan = MODES[mode]
    accounts = 1 if hot else args.accounts
    workers = args.sqlite_workers if backend == "sqlite" else args.workers
    mode_args = argparse.Namespace(
        **{**vars(args), "accounts": accounts, "workers": workers, "on_plan": on_plan}
    )
    key = "gl_bench_" + secrets.token_hex(16)
    name = "gl_bench_" + secrets.token_hex(6)
    sqlite_path = workdir / f"{name}.db"
    url = f"sqlite:///{sqlite_path}" if backend == "sqlite" else database_url(name)
    if backend == "postgres":
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    keep = False
    server: ServerProcess | None = None
    try:
        print(
            f"\n== {mode}: {backend}, {workers} worker(s), {args.clients} clients, "
            f"{accounts} account(s), {args.seconds:g} s; load average {load_average()}",
            flush=True,
        )
        server = ServerProcess(url, workers, key, workdir / f"{name}.log")
        server.wait_ready()
        result, warm_accepted = run_fast(
            measure_product(server, url if backend == "postgres" else None, key, mode_args)
        )
        server.stop()
        server = None
        if backend == "postgres":
            org_id = asyncio.run(bench_org(url))
            events, draws, used = asyncio.run(ledger_totals(url, org_id))
        else:
            events, draws, used = sqlite_totals(sqlite_path)
        expected = warm_accepted + result.accepted
        if not events == draws == expected or used != expected:
            raise RuntimeError(
                f"{mode}: ledger disagrees with the answers: {expected} accepted, {events} "
                f"events, {draws} draws, {used} units used"
            )
        ledger = f"{events} events = {draws} draws = {used} units used"
        print_mode(mode, result, ledger)
        keep = mode == "spread"
        return ModeRun(mode, result, ledger), (name if keep else None)
    finally:
        if server is not None:
            server.stop()
        if backend == "postgres" and not keep:
            with contextlib.suppress(Exception):
                asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def print_mode(mode: str, result: LoadResult, ledger: str) -> None:
    rate = result.accepted / result.seconds
    other = {s: n for s, n in sorted(result.statuses.items()) if s != 200}
    print(f"accepted events/s   {rate:10.1f}   ({result.accepted} in {result.seconds:.1f} s)")
    print(f"latency p50 (ms)    {percentile(result.latencies_ms, 0.50):10.1f}")
    print(f"latency p99 (ms)    {percentile(result.latencies_ms, 0.99):10.1f}")
    if other or result.errors:
        print(f"not accepted: {other} {result.errors} {result.samples}")
    print(f"ledger check: {ledger}")
    print_cpu(result, None)


def minimal_ceiling(args: argparse.Namespace) -> tuple[float, tuple[float, float] | None]:
    """pgbench on the minimal schema of issue 13, in a fresh database of its own."""
    name = "gl_ceiling_" + secrets.token_hex(6)
    url = database_url(name)
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:

        async def seed() -> None:
            conn = await asyncpg.connect(url, timeout=10)
            try:
                await conn.execute(MINIMAL_SCHEMA)
                await conn.execute(
                    "INSERT INTO entries (account_id, feature_id, granted, used, effective_until)"
                    " SELECT a, 1, 1000000000, 0, now() + interval '10 years'"
                    " FROM generate_series(1, $1::int) a",
                    args.accounts,
                )
                await conn.execute("VACUUM ANALYZE")
            finally:
                await conn.close()

        asyncio.run(seed())
        return run_pgbench(url, MINIMAL_SQL, {"naccounts": args.accounts}, args)
    finally:
        with contextlib.suppress(Exception):
            asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> int:
    args = parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="gl-bench-"))
    kept: str | None = None
    runs: list[ModeRun] = []
    try:
        print(
            f"modes {', '.join(args.modes)}; {args.workers} worker(s), {args.clients} clients, "
            f"{args.seconds:g} s per run; {os.cpu_count()} CPU(s)",
            flush=True,
        )
        for mode in args.modes:
            run, keep = run_mode(mode, args, workdir)
            runs.append(run)
            kept = keep or kept
        print(f"\n== ceiling: minimal schema; load average {load_average()}", flush=True)
        tps, own = minimal_ceiling(args)
        print(f"pgbench TPS (minimal schema)        {tps:10.1f}")
        if own is not None:
            print(f"  pgbench and its backends used {own[0]:.2f} CPUs of {own[1]:.2f} busy")
        product_tps: float | None = None  # float-ok: a rate
        if kept is not None:
            url = database_url(kept)
            org_id = asyncio.run(bench_org(url))
            defines = {
                "naccounts": args.accounts,
                "org": org_id,
                "feature": FEATURE,
                "schema": SCHEMA,
            }
            product_tps, own = run_pgbench(url, CEILING_SQL, defines, args)
            print(f"pgbench TPS (product schema, 7 round trips) {product_tps:10.1f}")
        print_summary(runs, tps, product_tps)
        failed = [r for r in runs if r.result.errors or set(r.result.statuses) - {200}]
        return 1 if failed else 0
    finally:
        if kept is not None:
            with contextlib.suppress(Exception):
                asyncio.run(admin(f'DROP DATABASE IF EXISTS "{kept}" WITH (FORCE)'))
        shutil.rmtree(workdir, ignore_errors=True)


def print_summary(runs: list[ModeRun], tps: float, product_tps: float | None) -> None:
    """One line per mode: what docs/benchmarks.md records."""
    print("\n| mode | events/s | p50 ms | p99 ms | ceiling TPS | ratio | CPU ms/event |")
    print("|---|---:|---:|---:|---:|---:|---|")
    spread = next((r for r in runs if r.mode == "spread"), None)
    for run in runs:
        r = run.result
        rate = r.accepted / r.seconds
        cpu = " / ".join(
            "-" if v is None else f"{1000 * v / max(1, r.accepted):.2f}"
            for v in (r.server_cpu, r.generator_cpu, r.database_cpu)
        )
        print(
            f"| {run.mode} | {rate:.1f} | {percentile(r.latencies_ms, 0.5):.1f} | "
            f"{percentile(r.latencies_ms, 0.99):.1f} | {tps:.1f} | {rate / tps:.2f} | {cpu} |"
        )
    if spread is not None:
        base = spread.result.accepted / spread.result.seconds
        for run in runs:
            if run.mode != "spread":
                rate = run.result.accepted / run.result.seconds
                print(f"{run.mode} / spread: {rate / base:.2f}")
        if product_tps:
            print(f"spread / product-schema ceiling: {base / product_tps:.2f}")


if __name__ == "__main__":
    sys.exit(main())
