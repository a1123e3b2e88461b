"""The migrations build exactly the schema `store/tables/` declares, on both databases: a
table, column, type, nullability, index, unique or foreign key added to one and not the other
fails here, instead of surfacing as a query that works on a fresh test database only."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from grantledger.store.engine import DatabaseOptions, create_engine
from grantledger.store.migrate import alembic_config, upgrade
from grantledger.store.tables import metadata
from tests.servers import REQUIRE_POSTGRES, create_postgres_database, drop_postgres_database


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own (not the suite's shared one), dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    url = create_postgres_database()
    if url is None:
        if REQUIRE_POSTGRES:
            pytest.fail("PostgreSQL is required (GRANTLEDGER_REQUIRE_POSTGRES=1) but unreachable")
        pytest.skip("PostgreSQL unreachable (set GRANTLEDGER_REQUIRE_POSTGRES=1 to fail instead)")
    try:
        yield url
    finally:
        drop_postgres_database(url)


def _differences(url: str) -> list[Any]:
    def compare(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, metadata))

    async def run() -> list[Any]:
        engine = create_engine(url, DatabaseOptions(pool_size=1))
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(compare)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_the_migrations_produce_exactly_the_declared_tables(fresh_url: str) -> None:
    upgrade(fresh_url)
    assert _differences(fresh_url) == []


def test_the_comparison_sees_a_difference(fresh_url: str) -> None:
    # The check above can fail: a table the migrations never made is reported.
    upgrade(fresh_url)
    extra = sa.Table("not_migrated", metadata, sa.Column("id", sa.Integer, primary_key=True))
    try:
        kinds = [diff[0] for diff in _differences(fresh_url) if isinstance(diff, tuple)]
    finally:
        metadata.remove(extra)
    assert kinds == ["add_table"]


def test_migrate_gives_statistics_to_restored_tables_only(pg_url: str) -> None:
    """A copy restored with pg_restore has rows and no statistics: `grantledger migrate` (run
    after any restore, and by `serve` at start) analyzes the tables holding rows, and leaves
    empty ones without (statistics of no rows would mislead a table that then grows)."""
    url = create_postgres_database()
    assert url is not None

    async def tables_with_statistics() -> set[str]:
        engine = create_engine(url, DatabaseOptions(pool_size=1))
        try:
            async with engine.connect() as conn:
                rows = await conn.exec_driver_sql(
                    "SELECT DISTINCT tablename FROM pg_stats WHERE schemaname = current_schema()"
                )
                return {name for (name,) in rows}
        finally:
            await engine.dispose()

    async def restore_rows() -> None:
        engine = create_engine(url, DatabaseOptions(pool_size=1))
        try:
            async with engine.begin() as conn:
                await conn.exec_driver_sql(
                    "INSERT INTO organizations (id, name, created_at)"
                    " SELECT 'org-' || i, 'org-' || i, now() FROM generate_series(1, 500) AS i"
                )
        finally:
            await engine.dispose()

    try:
        upgrade(url)
        assert "organizations" not in asyncio.run(tables_with_statistics())
        asyncio.run(restore_rows())
        assert "organizations" not in asyncio.run(tables_with_statistics())
        upgrade(url)  # at the newest version already: only the statistics step has work
        with_statistics = asyncio.run(tables_with_statistics())
        assert "organizations" in with_statistics
        assert "accounts" not in with_statistics  # empty
    finally:
        drop_postgres_database(url)


def test_0009_keeps_existing_auto_top_ups_live(fresh_url: str) -> None:
    """Settings saved before 0009 are live after it (`deleted_at` NULL), counters untouched;
    going back removes only the settings deleted since."""
    command.upgrade(alembic_config(fresh_url), "0008")
    at = "2030-01-01 00:00:00"

    async def run(*statements: str) -> list[Any]:
        engine = create_engine(fresh_url, DatabaseOptions(pool_size=1))
        try:
            async with engine.begin() as conn:
                result = None
                for statement in statements:
                    result = await conn.execute(sa.text(statement))
                return list(result) if result is not None and result.returns_rows else []
        finally:
            await engine.dispose()

    asyncio.run(
        run(
            f"INSERT INTO organizations (id, name, created_at) VALUES ('o', 'o', '{at}')",
            "INSERT INTO accounts (org_id, id, togai_account_id, customer_id, togai_customer_id,"
            " name, invoice_currency, status, attributes, created_at, updated_at) VALUES"
            f" ('o', 'a', 't', 'c', 'tc', 'Acc', 'USD', 'ACTIVE', '{{}}', '{at}', '{at}')",
            "INSERT INTO auto_topups (org_id, account_id, threshold_amount, topup_amount,"
            " effective_days, priority, max_per_month, below, crossings, month, month_count,"
            f" created_at, updated_at) VALUES ('o', 'a', 50, 100, NULL, 1, 5, false, 7,"
            f" '2030-01', 3, '{at}', '{at}')",
        )
    )
    upgrade(fresh_url)
    rows = asyncio.run(run("SELECT crossings, month_count, deleted_at FROM auto_topups"))
    assert [tuple(r) for r in rows] == [(7, 3, None)]
    asyncio.run(run(f"UPDATE auto_topups SET deleted_at = '{at}'"))
    command.downgrade(alembic_config(fresh_url), "0008")
    assert asyncio.run(run("SELECT count(*) FROM auto_topups")) == [(0,)]
