"""Alembic environment: runs the migrations on the same async engine the service uses."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from grantledger.store.engine import DatabaseOptions, create_engine
from grantledger.store.tables import metadata

# An advisory lock so that several `serve` processes starting at once migrate one at a time.
_MIGRATION_LOCK = 71_004_221


def _run(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    context.run_migrations()
    if connection.dialect.name == "sqlite":
        # Foreign keys were not enforced while tables were copied (SQLite's own procedure for
        # changing a table's keys); nothing is committed unless every one of them holds.
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"foreign keys broken by the migration: {broken[:10]}")
    if connection.dialect.name == "postgresql":
        _analyze_tables_without_statistics(connection)


def _analyze_tables_without_statistics(connection: Connection) -> None:
    """ANALYZE the tables that hold rows but have no statistics: a database just restored with
    pg_restore (which restores none) or bulk-loaded. Until autovacuum comes by, PostgreSQL's
    plans for the gate's prepared statements would read whole organizations (docs/benchmarks.md,
    "Plans"). An empty table is left alone: statistics of no rows mislead the plans of a table
    that then grows. `serve` and `migrate` both get here, so a restored copy is ready to serve."""
    analyzed = {
        name
        for (name,) in connection.exec_driver_sql(
            "SELECT DISTINCT tablename FROM pg_stats WHERE schemaname = current_schema()"
        )
    }
    # The tables there now (an upgrade to an older revision has not made the newer ones).
    present = {
        name
        for (name,) in connection.exec_driver_sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        )
    }
    for table in metadata.sorted_tables:
        if table.name in analyzed or table.name not in present:
            continue
        quoted = connection.dialect.identifier_preparer.quote(table.name)
        if connection.exec_driver_sql(f"SELECT EXISTS (SELECT 1 FROM {quoted})").scalar():
            connection.exec_driver_sql(f"ANALYZE {quoted}")


async def _main() -> None:
    # No statement timeout: a migration may rewrite a whole table.
    options = DatabaseOptions(
        statement_timeout=0,
        pool_size=1,
        pooler=context.config.attributes.get("pooler"),
        application_name="grantledger migrate",
    )
    engine = create_engine(context.config.attributes["url"], options, enforce_foreign_keys=False)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run)
    finally:
        await engine.dispose()


asyncio.run(_main())
