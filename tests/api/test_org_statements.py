"""Every statement the product runs against a tenant table names one organization, so that on
Citus it runs on the one node holding that organization (docs/scale-out.md).

The statements are PostgreSQL's own record of what it ran: a throwaway primary
(tests/clusters.py) logs every statement (`log_statement = 'all'`, CSV), the API tier's
PostgreSQL cases run against it in a nested pytest (a representative subset in every run,
all of them with GRANTLEDGER_TEST_STATEMENTS=all), and each logged statement — SQLAlchemy's
and the raw asyncpg path's alike — is parsed with sqlglot. A statement touching a tenant table
passes when every tenant table in it is pinned to one organization: `org_id` compared with
one value, joined on `org_id` to a table that is, or given by an INSERT's own `org_id`.
Only the product's own connections are read (their `application_name` starts with
"grantledger "; the tests' own SQL, pg_dump and pg_restore are not the product's), and of them
what runs across organizations by design is left out: the migrations and `grantledger verify`.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from grantledger.store.tables import metadata
from grantledger.store.tables.citus import GLOBAL_TABLES
from tests.clusters import Cluster, make_cluster

TENANT = {t.name for t in metadata.sorted_tables} - set(GLOBAL_TABLES)
ORG = "org_id"
# Cross-organization by design (docs/scale-out.md): their statements are not routed by one.
ACROSS = {"grantledger migrate", "grantledger verify"}
# Every Togai operation through the official client, and ingestion with its corrections (the
# gate's raw asyncpg statements, reversals); the whole tier takes many minutes more.
# The two statements that search every organization by design, by how they begin: the
# sweeper's searches, each followed by one transaction per (organization, account) found. On
# Citus they are multi-shard reads (no locks) run from the coordinator (docs/scale-out.md).
SEARCHES = {
    "SELECT DISTINCT credits.org_id, credits.account_id FROM credits WHERE credits.status": (
        "the sweeper's search for accounts with credits past their end (store/credits)"
    ),
    "SELECT credits.org_id, credits.account_id, credits.effective_until, alerts.window_days": (
        "the sweeper's search for credits entering an expiry alert's window (store/notifications)"
    ),
}
SUBSET = ["tests/api/test_togai_operations.py", "tests/api/test_conformance_events.py"]
LOGGING = """
logging_collector = on
log_destination = 'csvlog'
log_directory = 'pglog'
log_filename = 'postgresql'
log_statement = 'all'
"""
# csvlog's columns (PostgreSQL 13 and later) that are read here.
DATABASE, SEVERITY, MESSAGE, APPLICATION = 2, 11, 13, 22


@pytest.fixture(scope="module")
def logged() -> Iterator[Cluster]:
    made = make_cluster(replica=False, settings=LOGGING)
    yield made
    made.remove()


def statements(log: Path) -> Iterator[str]:
    """The SQL of each statement the test databases ran, outside the cross-org commands."""
    with log.open(newline="", errors="replace") as lines:
        for row in csv.reader(lines):
            if len(row) <= APPLICATION or row[SEVERITY] != "LOG":
                continue
            # The product's own connections say which command holds them ("grantledger
            # serve", …); the tests' own SQL, pg_dump and pg_restore are not the product's.
            product = row[APPLICATION].startswith("grantledger ")
            if not row[DATABASE].startswith("gl_test_") or not product:
                continue
            if row[APPLICATION] in ACROSS:
                continue
            message = row[MESSAGE]
            if message.startswith("statement: "):
                yield message[len("statement: ") :]
            elif message.startswith("execute "):
                yield message.split(": ", 1)[1]


def unrouted(sql: str) -> list[str]:
    """The tenant tables `sql` touches that are not pinned to one organization."""
    first = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
    if first in {"BEGIN", "COMMIT", "ROLLBACK", "SET", "SHOW", "SAVEPOINT", "RELEASE", "ANALYZE"}:
        return []
    if not TENANT & set(re.findall(r"[a-z_]+", sql)):
        return []  # no tenant table named (the drivers' catalog queries, global tables)
    tree = sqlglot.parse_one(sql, read="postgres")
    aliases: dict[str, str] = {}
    for table in tree.find_all(exp.Table):
        if table.name in TENANT:
            aliases[table.alias_or_name] = table.name
    if not aliases:
        return []
    pinned: set[str] = set()
    joined: list[tuple[str, str]] = []
    for insert in tree.find_all(exp.Insert):
        target = insert.this
        schema = target if isinstance(target, exp.Schema) else None
        table = (schema.this if schema else target).find(exp.Table)
        columns = {c.name for c in schema.expressions} if schema else set()
        if table is not None and ORG in columns:
            pinned.add(table.alias_or_name)
    for eq in tree.find_all(exp.EQ):
        left, right = eq.left, eq.right
        sides = [s for s in (left, right) if isinstance(s, exp.Column) and s.name == ORG]
        if len(sides) == 2:
            a, b = (_owner(s, aliases) for s in sides)
            if a and b:
                joined.append((a, b))
        elif len(sides) == 1 and not (left.find(exp.Column) and right.find(exp.Column)):
            owner = _owner(sides[0], aliases)
            if owner:
                pinned.add(owner)
    changed = True
    while changed:
        changed = False
        for a, b in joined:
            if (a in pinned) != (b in pinned):
                pinned |= {a, b}
                changed = True
    return sorted(aliases[a] for a in aliases if a not in pinned)


def _owner(column: exp.Column, aliases: dict[str, str]) -> str | None:
    """The alias of the table an `org_id` column belongs to."""
    if column.table:
        return column.table if column.table in aliases else None
    scope = column.find_ancestor(exp.Select, exp.Update, exp.Delete)
    tables = [t.alias_or_name for t in (scope or column.root()).find_all(exp.Table)]
    candidates = [t for t in tables if t in aliases]
    return candidates[0] if len(candidates) == 1 else None


def test_the_parser_sees_an_unrouted_statement() -> None:
    assert unrouted("SELECT * FROM credits WHERE id = $1") == ["credits"]
    assert unrouted("SELECT * FROM credits WHERE org_id = $1 AND id = $2") == []
    assert unrouted(
        "SELECT * FROM credits c JOIN credit_transactions t ON t.credit_id = c.id"
        " WHERE c.org_id = $1"
    ) == ["credit_transactions"]
    assert (
        unrouted(
            "SELECT * FROM credits c JOIN credit_transactions t"
            " ON t.org_id = c.org_id AND t.credit_id = c.id WHERE c.org_id = $1"
        )
        == []
    )
    assert unrouted("INSERT INTO events (org_id, id) VALUES ($1, $2)") == []
    assert unrouted("UPDATE credits SET status = 'EXPIRED' WHERE effective_until < $1") == [
        "credits"
    ]
    assert unrouted("SELECT key_hash FROM api_keys WHERE key_hash = $1") == []


def test_every_statement_of_the_api_tier_names_one_organization(logged: Cluster) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("GRANTLEDGER_TEST_POOLER", "GRANTLEDGER_DB_POOLER", "COVERAGE_PROCESS_CONFIG")
    }
    env["GRANTLEDGER_TEST_POSTGRES_URL"] = logged.primary.url()
    env["GRANTLEDGER_REQUIRE_POSTGRES"] = "1"
    chosen = ["tests/api"] if os.environ.get("GRANTLEDGER_TEST_STATEMENTS") == "all" else SUBSET
    pytest_args = ["-q", "-x", "-p", "no:cacheprovider", "--no-cov", "-k", "postgres"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *pytest_args, *chosen],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-4000:]
    log = logged.primary.data / "pglog" / "postgresql.csv"
    seen: dict[str, list[str]] = {}
    count = touching = 0
    texts: set[str] = set()
    for sql in statements(log):
        count += 1
        touching += bool(TENANT & set(re.findall(r"[a-z_]+", sql)))
        if sql in texts:
            continue  # the same text (values are parameters): parsed once
        texts.add(sql)
        if any(" ".join(sql.split()).startswith(search) for search in SEARCHES):
            continue
        try:
            tables = unrouted(sql)
        except sqlglot.errors.ParseError as error:
            tables = [f"(unparsed: {str(error).splitlines()[0]})"]
        if tables:
            seen.setdefault(" ".join(sql.split())[:400], tables)
    print(f"{count} statements, {touching} naming a tenant table, {len(texts)} distinct texts")
    assert touching > 200, f"only {touching} statements named a tenant table"
    assert seen == {}, "\n\n".join(f"{t}: {s}" for s, t in list(seen.items())[:20])
