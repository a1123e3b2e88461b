"""The migrations build exactly the schema `store/tables/` declares, on both databases: a
table, column, type, nullability, index, unique or foreign key added to one and not the other
fails here, instead of surfacing as a query that works on a fresh test database only."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
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


def test_the_usage_windows_migration_keeps_what_was_drawn(fresh_url: str) -> None:
    """0010 on a database written by the code before it: each draw gets its event's timestamp
    and whether it came from a plan, and a plan entry's carried usage leaves its `used` (which
    is again its own draws: a cycle's usage is its window's now)."""
    from alembic import command

    from grantledger.store.migrate import alembic_config
    from grantledger.store.tables import draws, events, feature_entries

    command.upgrade(alembic_config(fresh_url), "0008")
    at = datetime(2026, 3, 5, 12, tzinfo=UTC)
    stamped = datetime(2026, 3, 4, 8, tzinfo=UTC)
    common = {"org_id": "o", "account_id": "a", "feature_id": "f"}

    def entry(entry_id: str, source: str, used: str, carried: str | None) -> dict[str, Any]:
        return {
            **common,
            "id": entry_id,
            "row_key": "rk-" + entry_id,
            "source": source,
            "effective_from": at,
            "effective_until": None,
            "granted": Decimal(100),
            "used": Decimal(used),
            "carried": Decimal(carried) if carried is not None else None,
            "created_at": at,
            "updated_at": at,
        }

    async def write() -> None:
        engine = create_engine(fresh_url, DatabaseOptions(pool_size=1))
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    sa.insert(events).values(
                        id="evt-1",
                        org_id="o",
                        event_id="e1",
                        account_id="a",
                        schema_name="s",
                        timestamp=stamped,
                        accepted=True,
                        reason=None,
                        payload={},
                        received_at=at,
                    )
                )
                await conn.execute(
                    sa.insert(feature_entries),
                    [
                        entry("sch.1#2026-03-01$PRICE_PLAN", "PRICE_PLAN", "45", "40"),
                        entry("grant-1", "ENTITLEMENT", "7", None),
                    ],
                )
                for seq, (entry_id, amount) in enumerate(
                    [("sch.1#2026-03-01$PRICE_PLAN", "5"), ("grant-1", "7")]
                ):
                    await conn.execute(
                        sa.insert(draws).values(
                            event_pk="evt-1",
                            seq=seq,
                            entry_id=entry_id,
                            amount=Decimal(amount),
                            created_at=at,
                            **common,
                        )
                    )
        finally:
            await engine.dispose()

    async def read() -> tuple[list[Any], list[Any]]:
        engine = create_engine(fresh_url, DatabaseOptions(pool_size=1))
        try:
            async with engine.connect() as conn:
                drawn = list(await conn.execute(sa.select(draws).order_by(draws.c.seq)))
                made = list(await conn.execute(sa.select(feature_entries)))
                return drawn, made
        finally:
            await engine.dispose()

    asyncio.run(write())
    upgrade(fresh_url)
    drawn, made = asyncio.run(read())
    assert [(d.entry_id, d.occurred_at, d.plan) for d in drawn] == [
        ("sch.1#2026-03-01$PRICE_PLAN", stamped, True),
        ("grant-1", stamped, False),
    ]
    by_id = {e.id: (e.used, e.carried) for e in made}
    assert by_id["sch.1#2026-03-01$PRICE_PLAN"] == (Decimal(5), Decimal(0))
    assert by_id["grant-1"] == (Decimal(7), None)


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


def test_0014_gives_each_allocation_its_holds_organization(fresh_url: str) -> None:
    """Holds made before 0014: each allocation gets its hold's org_id, the rows and their
    amounts stay, and the wider keys hold them (the key of 0014's tables now starts with it)."""
    command.upgrade(alembic_config(fresh_url), "0011")
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

    orgs = ("o1", "o2")
    rows = []
    for org in orgs:
        rows += [
            f"INSERT INTO organizations (id, name, created_at) VALUES ('{org}', '{org}', '{at}')",
            "INSERT INTO accounts (org_id, id, togai_account_id, customer_id, togai_customer_id,"
            " name, invoice_currency, status, attributes, created_at, updated_at) VALUES"
            f" ('{org}', 'a', 't', 'c', 'tc', 'Acc', 'USD', 'ACTIVE', '{{}}', '{at}', '{at}')",
            "INSERT INTO credits (id, org_id, account_id, customer_id, purpose, effective_from,"
            " credit_amount, credit_unit, priority, request_hash, status, consumed_amount,"
            " hold_amount, expired_amount, voided_amount, created_at, updated_at) VALUES"
            f" ('cr-{org}', '{org}', 'a', 'c', 'p', '2030-01-01', 10, 'USD', 1, 'h', 'ACTIVE',"
            f" 0, 3, 0, 0, '{at}', '{at}')",
            "INSERT INTO credit_holds (id, org_id, account_id, invoice_id, kind, request_hash,"
            " lines, status, created_at) VALUES"
            f" ('h-{org}', '{org}', 'a', 'inv', 'HOLD', 'h', '[]', 'HELD', '{at}')",
            "INSERT INTO credit_hold_allocations (hold_id, seq, line_index, credit_id, amount)"
            f" VALUES ('h-{org}', 0, 0, 'cr-{org}', 3)",
        ]
    asyncio.run(run(*rows))
    upgrade(fresh_url)
    got = asyncio.run(
        run("SELECT org_id, hold_id, credit_id, amount FROM credit_hold_allocations ORDER BY 1")
    )
    assert [(r[0], r[1], r[2], Decimal(str(r[3]))) for r in got] == [
        (org, f"h-{org}", f"cr-{org}", Decimal(3)) for org in orgs
    ]
    # An allocation of another organization's hold is refused by the paired foreign key.
    with pytest.raises(sa.exc.IntegrityError):
        asyncio.run(
            run(
                "INSERT INTO credit_hold_allocations (org_id, hold_id, seq, line_index,"
                " credit_id, amount) VALUES ('o2', 'h-o1', 1, 0, 'cr-o1', 1)"
            )
        )


def test_0013_opens_the_journal_with_every_balance_as_it_stands(fresh_url: str) -> None:
    """A credit and an entry written before 0013 get one OPENING row each, carrying what they
    hold (and what is held) then, so the journal's later rows continue true balances."""
    from grantledger.store.tables import accounts, credits, feature_entries, journal

    command.upgrade(alembic_config(fresh_url), "0011")
    at = datetime(2026, 3, 5, 12, tzinfo=UTC)

    async def write() -> None:
        engine = create_engine(fresh_url, DatabaseOptions(pool_size=1))
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    sa.text(
                        "INSERT INTO organizations (id, name, created_at) VALUES ('o', 'o', :at)"
                    ),
                    {"at": at},
                )
                await conn.execute(
                    sa.insert(accounts.c.org_id.table).values(
                        org_id="o",
                        id="a",
                        togai_account_id="a",
                        customer_id="cu",
                        togai_customer_id="cu",
                        name="a",
                        invoice_currency="EUR",
                        status="ACTIVE",
                        attributes={},
                        created_at=at,
                        updated_at=at,
                    )
                )
                amounts = {
                    "credit_amount": "100.0000000001",
                    "consumed_amount": "30",
                    "hold_amount": "5",
                    "expired_amount": "0",
                    "voided_amount": "0",
                }
                await conn.execute(
                    sa.text(
                        "INSERT INTO credits (id, org_id, account_id, customer_id, purpose, "
                        "effective_from, credit_amount, credit_unit, priority, request_hash, "
                        "status, consumed_amount, hold_amount, expired_amount, voided_amount, "
                        "created_at, updated_at) VALUES ('cred.1', 'o', 'a', 'cu', 'p', "
                        "'2026-03-05', :credit_amount, 'EUR', 1, 'h', 'ACTIVE', "
                        ":consumed_amount, :hold_amount, :expired_amount, :voided_amount, :at, :at)"
                    ).bindparams(
                        *(
                            sa.bindparam(k, Decimal(v), type_=credits.c.credit_amount.type)
                            for k, v in amounts.items()
                        ),
                        sa.bindparam("at", at, type_=credits.c.created_at.type),
                    )
                )
                await conn.execute(
                    sa.insert(feature_entries).values(
                        org_id="o",
                        account_id="a",
                        feature_id="f",
                        id="grant-1",
                        row_key="rk-1",
                        source="ENTITLEMENT",
                        effective_from=at,
                        effective_until=None,
                        granted=Decimal(50),
                        used=Decimal("7.5"),
                        carried=None,
                        created_at=at,
                        updated_at=at,
                    )
                )
        finally:
            await engine.dispose()

    async def read() -> list[Any]:
        engine = create_engine(fresh_url, DatabaseOptions(pool_size=1))
        try:
            async with engine.connect() as conn:
                return list(await conn.execute(sa.select(journal).order_by(journal.c.subject)))
        finally:
            await engine.dispose()

    asyncio.run(write())
    upgrade(fresh_url)
    rows = asyncio.run(read())
    assert [
        (r.kind, r.subject, r.customer_id, r.unit, r.amount, r.held, r.balance_after, r.tx)
        for r in rows
    ] == [
        (
            "OPENING",
            "cred.1",
            "cu",
            "EUR",
            Decimal("70.0000000001"),
            Decimal(5),
            Decimal("70.0000000001"),
            0,
        ),
        ("OPENING", "grant-1", "cu", "f", Decimal("42.5"), Decimal(0), Decimal("42.5"), 0),
    ]
