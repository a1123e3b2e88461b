"""Ready to shard by organization: every primary key, unique constraint, unique index and
foreign key of every tenant table includes `org_id` (the column Citus would distribute by), read
from PostgreSQL's own catalog after the migrations; the global tables are exactly those
`store/tables/citus.py` names with their reasons."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from grantledger.store.migrate import MIGRATIONS, upgrade
from grantledger.store.tables import metadata
from grantledger.store.tables.citus import GLOBAL_TABLES
from tests.servers import REQUIRE_POSTGRES, create_postgres_database, drop_postgres_database

ORG = "org_id"

# Every key-like object of the schema, its columns in key order and, for a foreign key, the
# referred table and columns in the same order.
KEYS = """
SELECT t.relname AS table_name, c.conname AS name, c.contype::text AS kind,
       ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i)
         AS columns,
       r.relname AS referred,
       ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
             JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i)
         AS referred_columns
FROM pg_constraint c
JOIN pg_class t ON t.oid = c.conrelid
JOIN pg_namespace s ON s.oid = t.relnamespace
LEFT JOIN pg_class r ON r.oid = c.confrelid
WHERE s.nspname = current_schema() AND c.contype IN ('p', 'u', 'f')
UNION ALL
SELECT t.relname, i.relname, 'i',
       ARRAY(SELECT a.attname FROM unnest(x.indkey::int2[]) WITH ORDINALITY k(n, o)
             JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.n ORDER BY k.o),
       NULL, NULL
FROM pg_index x
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_namespace s ON s.oid = t.relnamespace
WHERE s.nspname = current_schema() AND x.indisunique
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
"""
TABLES = """
SELECT c.relname, EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                          AND a.attname = 'org_id' AND NOT a.attisdropped)
FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
WHERE s.nspname = current_schema() AND c.relkind = 'r'
"""


def violations(url: str) -> list[str]:
    """Each key of a tenant table that does not include the organization, in words."""

    async def read() -> tuple[list[asyncpg.Record], list[asyncpg.Record]]:
        conn = await asyncpg.connect(url, timeout=10)
        try:
            return await conn.fetch(TABLES), await conn.fetch(KEYS)
        finally:
            await conn.close()

    tables, keys = asyncio.run(read())
    tenant = {name for name, _ in tables if name not in GLOBAL_TABLES}
    found = [f"{name} has no org_id column" for name, has in tables if name in tenant and not has]
    for key in keys:
        table, name, kind, columns = key["table_name"], key["name"], key["kind"], key["columns"]
        if table not in tenant:
            continue
        if ORG not in columns:
            found.append(f"{table}: {name} ({', '.join(columns)}) lacks org_id")
        elif kind == "f" and key["referred"] in tenant:
            # Paired: the row's organization must be the referred row's organization.
            referred = key["referred_columns"][list(columns).index(ORG)]
            if referred != ORG:
                found.append(f"{table}: {name} pairs org_id with {key['referred']}.{referred}")
    return sorted(found)


@pytest.fixture
def migrated_url() -> Iterator[str]:
    url = create_postgres_database()
    if url is None:
        if REQUIRE_POSTGRES:
            pytest.fail("PostgreSQL is required (GRANTLEDGER_REQUIRE_POSTGRES=1) but unreachable")
        pytest.skip("PostgreSQL unreachable (set GRANTLEDGER_REQUIRE_POSTGRES=1 to fail instead)")
    try:
        upgrade(url)
        yield url
    finally:
        drop_postgres_database(url)


def test_every_key_of_a_tenant_table_includes_the_organization(migrated_url: str) -> None:
    assert violations(migrated_url) == []


def test_the_check_sees_a_key_without_the_organization(migrated_url: str) -> None:
    async def add(statements: list[str]) -> None:
        conn = await asyncpg.connect(migrated_url, timeout=10)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(
        add(
            [
                "CREATE TABLE probe (org_id text NOT NULL, id text PRIMARY KEY, code text)",
                "CREATE UNIQUE INDEX ix_probe_code ON probe (code)",
                "CREATE TABLE probe_child (org_id text NOT NULL, probe_id text"
                " REFERENCES probe (id), PRIMARY KEY (org_id, probe_id))",
                "CREATE TABLE unkeyed (id text PRIMARY KEY)",
            ]
        )
    )
    assert violations(migrated_url) == [
        "probe: ix_probe_code (code) lacks org_id",
        "probe: probe_pkey (id) lacks org_id",
        "probe_child: probe_child_probe_id_fkey (probe_id) lacks org_id",
        "unkeyed has no org_id column",
        "unkeyed: unkeyed_pkey (id) lacks org_id",
    ]


def test_the_declared_tables_follow_the_same_rule() -> None:
    """store/tables/ (what the code believes) agrees, without a database."""
    for table in metadata.sorted_tables:
        if table.name in GLOBAL_TABLES:
            continue
        assert ORG in table.c, table.name
        assert ORG in table.primary_key.columns, table.name
        for constraint in table.constraints:
            names = [c.name for c in getattr(constraint, "columns", [])]
            assert not names or ORG in names, (table.name, constraint.name)


def test_the_migration_knows_the_same_global_tables() -> None:
    # (Its own copy, frozen at its revision: a migration never imports code that changes.)
    source = next(Path(MIGRATIONS, "versions").glob("*_org_keys.py")).read_text()
    for name in GLOBAL_TABLES:
        assert f'"{name}"' in source, name
    assert set(GLOBAL_TABLES) <= {t.name for t in metadata.sorted_tables} | {"alembic_version"}
