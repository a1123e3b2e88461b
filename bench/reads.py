"""Benchmark: are reads flat in an account's history?

One run, on a fresh PostgreSQL database (dropped at the end) and a real `grantledger serve`:
1. through the HTTP API: one metered feature, a weekly BILLING plan, and four accounts —
   `small` and `big` each with one credit and one feature entry; `new-plan` on the plan since
   this week (one cycle) and `old-plan` on it back-dated `--cycles` weeks;
2. writes history straight into the ledger with SQL, as the product would have (so that a
   100,000-row history takes seconds, not minutes): `--small` and `--big` debits of 1 on each
   account's credit (`credit_transactions`, `consumedAmount`) and as many accepted events with
   their draws on its entry (`events`, `draws`, `used`), spread over the past hour;
   `grantledger verify` then checks the ledger adds up;
3. times `--reads` sequential GETs of each pair, alternated so both see the same machine:
   `credit_balance`, `credit_balance?asOf=`, `features/{f}`, `features/{f}?asOf=` (small vs big;
   asOf one minute ago) and `features/{f}` with and without asOf (new-plan vs old-plan);
4. prints p50 per read and the ratio big/small (target ≤ 1.2) and old-plan/new-plan.

Usage: .venv/bin/python bench/reads.py [--small 100] [--big 100000] [--cycles 1100]
       [--reads 200]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from entitled import ServerProcess, admin, bench_org, database_url, load_average, percentile

FEATURE = "bench-reads"
SCHEMA = "bench_reads"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=100, help="history rows of the small one")
    parser.add_argument("--big", type=int, default=100_000, help="history rows of the big one")
    parser.add_argument("--cycles", type=int, default=1100, help="weeks the old plan goes back")
    parser.add_argument("--reads", type=int, default=200, help="timed GETs per read and account")
    return parser.parse_args()


def ok(response: httpx.Response, *statuses: int) -> dict[str, object]:
    if response.status_code not in (statuses or (200,)):
        raise RuntimeError(f"{response.request.url.path}: {response.status_code} {response.text}")
    body: dict[str, object] = response.json()
    return body


def set_up(api: httpx.Client, cycles: int, clock: Path) -> tuple[dict[str, str], str]:
    """Accounts by role, and the plan's feature entries' account ids; returns credit ids."""
    ok(
        api.post(
            "/event_schema",
            json={"name": SCHEMA, "attributes": [{"name": "units"}], "dimensions": []},
        ),
        201,
    )
    ok(
        api.post(
            "/features",
            json={
                "id": FEATURE,
                "name": "Bench reads",
                "valueType": "NUMERIC",
                "schemaAssociations": [{"schemaName": SCHEMA, "attributeName": "units"}],
            },
        )
    )
    plan = ok(
        api.post(
            "/entitlement_plans",
            json={
                "name": "Weekly",
                "type": "BILLING",
                "cycle": "WEEKLY",
                "features": [{"featureId": FEATURE, "creditsPerCycle": 1000}],
            },
        )
    )["id"]
    credits: dict[str, str] = {}
    today = datetime.now(UTC).date()
    for role in ("small", "big", "new-plan", "old-plan"):
        ok(
            api.post(
                "/customers",
                json={
                    "id": f"cus-{role}",
                    "name": role,
                    "primaryEmail": "billing@example.com",
                    "address": {"country": "US"},
                    "account": {"id": f"acc-{role}", "name": role},
                },
            ),
            201,
        )
        if role in ("small", "big"):
            answer = ok(
                api.post(
                    "/credits",
                    json={
                        "creditRequests": [
                            {
                                "accountId": f"acc-{role}",
                                "purpose": "Prepaid Credit",
                                "effectiveFrom": "2020-01-01",
                                "priority": 1,
                                "creditAmount": 1_000_000_000,
                            }
                        ]
                    },
                )
            )
            credits[role] = answer["credits"][0]["id"]  # type: ignore[index]
            ok(
                api.post(
                    f"/accounts/acc-{role}/features/{FEATURE}/entries",
                    json={"granted": 1_000_000_000, "effectiveFrom": "2020-01-01T00:00:00Z"},
                )
            )
    start_new = today - timedelta(days=today.weekday())
    start_old = start_new - timedelta(weeks=cycles)
    for role, start in (("new-plan", start_new), ("old-plan", start_old)):
        # The server refuses a start more than a year back, and a back-dated assignment grants
        # nothing for cycles already over: the old plan is assigned on its first day (the
        # server's clock set there), so that it has run through every cycle since.
        clock.write_text(f"{date.isoformat(start)}T00:00:00+00:00")
        ok(
            api.post(
                f"/accounts/acc-{role}/plans",
                json={"planId": plan, "effectiveFrom": date.isoformat(start)},
            )
        )
    clock.write_text("")
    return credits, str(plan)


HISTORY = """
WITH n AS (SELECT i, now() - interval '1 hour' + (i * interval '1 hour') / $3::int AS at
           FROM generate_series(1, $3::int) i)
INSERT INTO credit_transactions (id, org_id, credit_id, transaction_type, amount, invoice_id,
                                 entity_id, created_at)
SELECT 'ctx.hist.' || $2::text || '.' || i, $1::text, $4::text, 'DEBITED', 1, NULL, NULL, at FROM n
"""
EVENTS = """
WITH n AS (SELECT i, now() - interval '1 hour' + (i * interval '1 hour') / $3::int AS at
           FROM generate_series(1, $3::int) i)
INSERT INTO events (id, org_id, event_id, account_id, schema_name, timestamp, accepted, reason,
                    payload, received_at)
SELECT 'evt.hist.' || $2::text || '.' || i, $1::text, 'hist-' || $2::text || '-' || i,
       'acc-' || $2::text, $4::text, at, true,
       NULL, '{}', at FROM n
"""
DRAWS = """
INSERT INTO draws (event_pk, seq, org_id, account_id, feature_id, entry_id, amount, created_at)
SELECT e.id, 0, $1::text, e.account_id, $3::text, (SELECT id FROM feature_entries f
       WHERE f.org_id = $1::text AND f.account_id = e.account_id AND f.feature_id = $3::text),
       1, e.received_at
FROM events e
WHERE e.org_id = $1::text AND e.account_id = 'acc-' || $2::text AND e.id LIKE 'evt.hist.%'
"""


async def write_history(url: str, org: str, role: str, rows: int, credit: str) -> None:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        async with conn.transaction():
            await conn.execute(HISTORY, org, role, rows, credit)
            await conn.execute(
                "UPDATE credits SET consumed_amount = consumed_amount + $2 WHERE id = $1",
                credit,
                rows,
            )
            await conn.execute(EVENTS, org, role, rows, SCHEMA)
            await conn.execute(DRAWS, org, role, FEATURE)
            await conn.execute(
                "UPDATE feature_entries SET used = used + $3 WHERE org_id = $1::text"
                " AND account_id = 'acc-' || $2::text AND feature_id = $4::text",
                org,
                role,
                rows,
                FEATURE,
            )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


PAIR_SECONDS = 20.0  # float-ok: a slow read (one that scans its history) stops early


def timed(api: httpx.Client, paths: list[str], reads: int) -> dict[str, list[float]]:
    """Milliseconds of each GET, the paths alternated so that they share the machine; at most
    `reads` rounds, fewer if they take longer than PAIR_SECONDS."""
    times: dict[str, list[float]] = {p: [] for p in paths}
    for path in paths:  # warm: the first read of a plan account makes its cycle entries
        ok(api.get(path))
    deadline = time.perf_counter() + PAIR_SECONDS
    for _ in range(reads):
        if time.perf_counter() > deadline:
            break
        for path in paths:
            started = time.perf_counter()
            ok(api.get(path))
            times[path].append((time.perf_counter() - started) * 1000)
    return times


def main() -> int:
    args = parse_args()
    name = "gl_bench_reads_" + secrets.token_hex(6)
    url = database_url(name)
    key = "gl_bench_" + secrets.token_hex(16)
    workdir = Path(tempfile.mkdtemp(prefix="gl-bench-reads-"))
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    server: ServerProcess | None = None
    try:
        print(f"reads flat in history; load average {load_average()}", flush=True)
        clock = workdir / "clock"
        clock.write_text("")
        server = ServerProcess(url, 1, key, workdir / "setup.log", clock_file=clock)
        server.wait_ready()
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=60) as api:
            credits, _ = set_up(api, args.cycles, clock)
        # Measured on a server without the file clock (it reads the file at every `now()`).
        server.stop()
        server = ServerProcess(url, 1, key, workdir / "server.log")
        server.wait_ready()
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=60) as api:
            org = asyncio.run(bench_org(url))
            for role, rows in (("small", args.small), ("big", args.big)):
                t0 = time.perf_counter()
                asyncio.run(write_history(url, org, role, rows, credits[role]))
                print(
                    f"history of {role}: {rows} debits + {rows} draws "
                    f"in {time.perf_counter() - t0:.1f} s",
                    flush=True,
                )
            as_of = (datetime.now(UTC) - timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
            pairs = [
                ("credit_balance", "/accounts/acc-{}/credit_balance", "small", "big"),
                (
                    "credit_balance asOf",
                    "/accounts/acc-{}/credit_balance?asOf=" + as_of,
                    "small",
                    "big",
                ),
                ("features/{f}", f"/accounts/acc-{{}}/features/{FEATURE}", "small", "big"),
                (
                    "features/{f} asOf",
                    f"/accounts/acc-{{}}/features/{FEATURE}?asOf={as_of}",
                    "small",
                    "big",
                ),
                (
                    "plan features/{f}",
                    f"/accounts/acc-{{}}/features/{FEATURE}",
                    "new-plan",
                    "old-plan",
                ),
                (
                    "plan features/{f} asOf",
                    f"/accounts/acc-{{}}/features/{FEATURE}?asOf={as_of}",
                    "new-plan",
                    "old-plan",
                ),
            ]
            print(f"load average {load_average()}; {args.reads} reads each, asOf {as_of}")
            print(
                "\n| read | account | p50 ms | p99 ms | account | p50 ms | p99 ms | ratio | reads |"
            )
            print("|---|---|---:|---:|---|---:|---:|---:|---:|")
            for label, pattern, one, other in pairs:
                a, b = pattern.format(one), pattern.format(other)
                times = timed(api, [a, b], args.reads)
                pa, pb = percentile(times[a], 0.5), percentile(times[b], 0.5)
                print(
                    f"| {label} | {one} | {pa:.2f} | {percentile(times[a], 0.99):.2f} | {other} "
                    f"| {pb:.2f} | {percentile(times[b], 0.99):.2f} | {pb / pa:.2f} | "
                    f"{len(times[a])} |",
                    flush=True,
                )
        server.stop()
        server = None
        env = {**os.environ, "GRANTLEDGER_DATABASE_URL": url}
        verify = subprocess.run(
            [sys.executable, "-m", "grantledger", "verify"],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        print(f"grantledger verify: exit {verify.returncode} {verify.stdout.strip()[-200:]}")
        return verify.returncode
    finally:
        if server is not None:
            server.stop()
        with contextlib.suppress(Exception):
            asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
