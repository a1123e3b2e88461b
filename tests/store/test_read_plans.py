"""The gate's reads (its plan-cycle step's included) and the alerts read (which every balance
change makes) touch rows in proportion to the batch, not to the organization or the database,
whatever plan PostgreSQL caches for them once the tables have statistics.

asyncpg prepares each statement once per connection, and after five runs PostgreSQL may keep
one generic plan for it, made without the parameters' values. A generic plan that reads a
whole organization through the `org_id` prefix of an index is cheap in a small test database
and ruinous in one with an organization of 100,000 accounts, and nothing else in the suite
would notice. So these tests force the generic plan, run each statement on a batch of a few
accounts in a small and in a large organization, and count the rows PostgreSQL's plan
actually visited (`EXPLAIN ANALYZE`)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.dialects import sqlite

from grantledger.store.migrate import upgrade
from grantledger.store.notifications.alerts import _watching
from grantledger.store.pg import gate as pg_gate
from grantledger.store.pg import reads as pg_reads
from grantledger.store.pg.statement import Statement
from tests.servers import create_postgres_database, drop_postgres_database

BIG = 100_000  # accounts (and alerts, entries, schedules) of the large organization
SMALL = 5
BATCH = ["acc-2", "acc-3", "acc-5", "acc-7"]
EVENTS = ["ev-1", "ev-2", "ev-3"]
# Rows a plan may visit for a batch of four accounts and three events: its own few, a sort's
# neighbours, the small organization's handful, and room for a second feature or alert each.
ROWS_ALLOWED = 40

_SEED = [
    "INSERT INTO organizations (id, name, created_at) VALUES ('big', 'big', now()),"
    " ('small', 'small', now())",
    "CREATE TEMP TABLE seed AS SELECT 'big' AS o, i FROM generate_series(1, {big}) AS i"
    " UNION ALL SELECT 'small', i FROM generate_series(1, {small}) AS i",
    "INSERT INTO event_schemas (org_id, name, version, status, attributes, dimensions, extra,"
    " created_at, updated_at) SELECT id, 'calls', 1, 'ACTIVE', '[]', '[]', '{{}}', now(), now()"
    " FROM organizations",
    "INSERT INTO features (org_id, id, name, value_type, created_at, updated_at)"
    " SELECT id, 'f1', 'f1', 'NUMERIC', now(), now() FROM organizations",
    "INSERT INTO feature_schemas (org_id, feature_id, schema_name, attribute_name, position)"
    " SELECT id, 'f1', 'calls', 'units', 0 FROM organizations",
    "INSERT INTO entitlement_plans (org_id, id, name, type, cycle, features, created_at)"
    " SELECT id, 'p1', 'p1', 'BILLING', 'MONTHLY', '[]', now() FROM organizations",
    "INSERT INTO accounts (org_id, id, togai_account_id, customer_id, togai_customer_id, name,"
    " invoice_currency, status, attributes, created_at, updated_at)"
    " SELECT o, 'acc-' || i, 't', 'c', 't', 'n', 'USD', 'ACTIVE', '{{}}', now(), now() FROM seed",
    "INSERT INTO schedules (id, org_id, account_id, plan_id, effective_from, created_at,"
    " updated_at) SELECT o || '-s' || i, o, 'acc-' || i, 'p1', current_date, now(), now()"
    " FROM seed",
    "INSERT INTO feature_entries (org_id, account_id, feature_id, id, row_key, source,"
    " effective_from, effective_until, granted, used, idempotency_key, created_at, updated_at)"
    " SELECT o, 'acc-' || i, 'f1', o || '-e' || i, o || '-rk' || i, 'PLAN',"
    " now() - interval '1 day', now() + interval '30 days', 1000, 0, o || '-k' || i, now(),"
    " now() FROM seed",
    "INSERT INTO event_ids (org_id, event_id, received_at) SELECT o, 'ev-' || i, now() FROM seed",
    'INSERT INTO events (id, org_id, event_id, account_id, schema_name, "timestamp",'
    " accepted, payload, received_at) SELECT o || '-x' || i, o, 'ev-' || i, 'acc-' || i,"
    " 'calls', now(), true, '{{}}', now() FROM seed",
    # An alert per account, and one watching every account, in each organization.
    "INSERT INTO alerts (org_id, id, template_id, version, status, interval, account_id,"
    " feature_id, threshold, created_at, updated_at) SELECT o, o || '-al' || i,"
    " 'FEATURE_BALANCE_BELOW', 1, 'ACTIVE', 1, 'acc-' || i, 'f1', 10, now(), now() FROM seed"
    " UNION ALL SELECT id, id || '-all', 'FEATURE_BALANCE_BELOW', 1, 'ACTIVE', 1, NULL, 'f1',"
    " 10, now(), now() FROM organizations",
    # A feature hold per account, every one past its limit: the gate's check finds them all.
    "INSERT INTO feature_holds (org_id, pk, account_id, hold_id, status, units, request_hash,"
    " event_pk, created_at, expires_at) SELECT o, o || '-fh' || i, 'acc-' || i, 'h' || i,"
    " 'HELD', '{{}}', 'x', o || '-x' || i, now() - interval '1 hour',"
    " now() - interval '1 minute' FROM seed",
    "ANALYZE",
]


@pytest.fixture(scope="module")
def seeded(pg_url: str) -> Iterator[str]:
    url = create_postgres_database()
    assert url is not None  # `pg_url` has found PostgreSQL
    try:
        upgrade(url)

        async def seed() -> None:
            conn = await asyncpg.connect(_plain(url), timeout=10)
            try:
                for statement in _SEED:
                    await conn.execute(statement.format(big=BIG, small=SMALL))
            finally:
                await conn.close()

        asyncio.run(seed())
        yield url
    finally:
        drop_postgres_database(url)


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def _literal(value: Any) -> str:
    if isinstance(value, list):
        return "ARRAY[" + ",".join(_literal(v) for v in value) + "]::text[]"
    if isinstance(value, datetime):
        return f"'{value.isoformat()}'::timestamptz"
    return "'" + str(value).replace("'", "''") + "'"


def _rows_visited(plan: dict[str, Any]) -> int:
    """Rows the scans of a plan produced or threw away, over all their loops."""
    own = 0
    if "Scan" in plan["Node Type"]:
        seen = plan["Actual Rows"] + plan.get("Rows Removed by Filter", 0)
        own = int(seen + plan.get("Rows Removed by Index Recheck", 0)) * plan["Actual Loops"]
    return own + sum(_rows_visited(p) for p in plan.get("Plans", []))


def _outline(plan: dict[str, Any], depth: int = 0) -> str:
    """The plan's nodes, one per line, for a failure's message."""
    line = "  " * depth + plan["Node Type"] + " " + plan.get("Index Name", "")
    return "\n".join([line] + [_outline(p, depth + 1) for p in plan.get("Plans", [])])


def _generic_plan_visits(url: str, statement: str, args: list[Any]) -> tuple[int, str]:
    """Rows visited by `statement`'s generic plan run on `args`, and the plan's outline; in a
    transaction rolled back (a reclaim writes)."""

    async def explain() -> tuple[int, str]:
        conn = await asyncpg.connect(_plain(url), timeout=10)
        try:
            await conn.execute("BEGIN")
            await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            await conn.execute("PREPARE read_under_test AS " + statement)
            call = "EXECUTE read_under_test(" + ", ".join(_literal(a) for a in args) + ")"
            [result] = json.loads(await conn.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) " + call))
            await conn.execute("ROLLBACK")
            return _rows_visited(result["Plan"]), _outline(result["Plan"])
        finally:
            await conn.close()

    return asyncio.run(explain())


_NOW = datetime.now(UTC)
# Each read of a balance change on PostgreSQL, with its arguments after the organization.
READS: dict[str, tuple[Statement, dict[str, Any]]] = {
    "gate inputs": (pg_gate._INPUTS, {"schema_names": ["calls"], "account_ids": BATCH}),
    "gate prior outcomes": (pg_gate._PRIOR, {"event_ids": EVENTS}),
    "gate reclaim": (
        pg_gate._RECLAIM,
        {"event_ids": EVENTS, "at": _NOW, "stale_before": _NOW - timedelta(days=45)},
    ),
    "gate lock": (
        pg_gate._LOCK_USABLE,
        {
            "account_ids": BATCH,
            "feature_ids": ["f1"],
            "earliest": _NOW,
            "latest": _NOW,
            "also": ["small-e2", "big-e3"],
        },
    ),
    "alerts watching": (
        pg_reads.ACTIVE_ALERTS_OF,
        {"template_ids": ["FEATURE_BALANCE_BELOW"], "account_ids": BATCH},
    ),
    "gate lapsed feature holds": (
        pg_reads._LAPSED_ACCOUNTS,
        {"account_ids": BATCH, "now": _NOW},
    ),
    "plan cycles: accounts share-locked": (pg_reads._SHARE_LOCK_ACCOUNTS, {"ids": BATCH}),
    "plan cycles: schedules": (pg_reads._SCHEDULES_OF, {"account_ids": BATCH}),
    "plan cycles: entries present": (
        pg_reads._PRESENT,
        {"account_ids": BATCH, "ids": ["small-e2", "big-e2", "big-e3"]},
    ),
}


@pytest.mark.postgres_only
@pytest.mark.parametrize("org", ["small", "big"])
@pytest.mark.parametrize("read", sorted(READS))
def test_generic_plan_visits_rows_of_the_batch_only(seeded: str, read: str, org: str) -> None:
    statement, args = READS[read]
    bound = statement.bind({"org_id": org, **args})
    visited, outline = _generic_plan_visits(seeded, statement.sql, bound)
    assert visited <= ROWS_ALLOWED, (
        f"{read} in the {org} organization visited {visited} rows for a batch of "
        f"{len(BATCH)} accounts (the large organization has {BIG}):\n{outline}"
    )


def test_sqlite_reads_the_alerts_watching_through_their_index(tmp_path: Path) -> None:
    """SQLite's plan for the same read: a range of `ix_alerts_watch` per branch, no scan of
    the table."""
    path = tmp_path / "plans.db"
    upgrade(f"sqlite:///{path}")
    query = _watching("org", BATCH, ["FEATURE_BALANCE_BELOW"])
    compiled = query.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True})
    with sqlite3.connect(path) as conn:
        plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {compiled}")]
    searches = [step for step in plan if "alerts" in step]
    assert len(searches) == 2, plan
    assert all(s.startswith("SEARCH") and "ix_alerts_watch" in s for s in searches), plan
