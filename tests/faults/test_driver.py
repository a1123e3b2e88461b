"""Statements run on the raw asyncpg connection (`store/pg/driver.py`) behave in the unit of work
exactly as SQLAlchemy's do, against a real PostgreSQL: they run inside its transaction, their
errors carry the same class and sqlstate, conflicts are retried, a statement timeout is a 503
and a connection lost before COMMIT is discarded and the work run again."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from grantledger.store.database import MAX_ATTEMPTS, Database, _sqlstate, is_retryable
from grantledger.store.engine import DatabaseOptions
from grantledger.store.errors import Busy, StatementTimeout
from grantledger.store.migrate import upgrade
from grantledger.store.notifications import alerts as alert_store
from grantledger.store.notifications.alerts import AlertRecord
from grantledger.store.pg import driver
from grantledger.store.pg.statement import Statement
from grantledger.store.tables import organizations
from grantledger.store.tx import Tx

FAST = DatabaseOptions(statement_timeout=0.5, pool_size=2)
_INSERT_ORG = Statement(
    "INSERT INTO organizations (id, name, created_at) VALUES (:id, :name, :created_at)"
)


@pytest.fixture
def url(pg_url: str) -> str:
    upgrade(pg_url)
    return pg_url


def _tx(conn: AsyncConnection) -> Tx:
    return Tx(conn, "org-unused")


async def _orgs(db: Database, org_id: str) -> int:
    async def work(conn: AsyncConnection) -> int:
        query = sa.select(sa.func.count()).where(organizations.c.id == org_id)
        return int((await conn.execute(query)).scalar_one())

    return await db.run(work)


def test_first_statement_runs_inside_the_transaction_and_rolls_back(url: str) -> None:
    """SQLAlchemy sends BEGIN lazily: a raw statement first in the work must not autocommit."""
    org_id = "org-drv-" + secrets.token_hex(4)

    async def scenario() -> None:
        db = Database(url, FAST)
        try:

            async def work(conn: AsyncConnection) -> None:
                await driver.execute(
                    _tx(conn), _INSERT_ORG, id=org_id, name=org_id, created_at=datetime.now(UTC)
                )
                raw = await driver.fetch(_tx(conn), Statement("SELECT txid_current() AS x"))
                mine = (await conn.execute(sa.text("SELECT txid_current()"))).scalar_one()
                assert raw[0]["x"] == mine  # one transaction for both paths
                raise RuntimeError("roll back")

            with pytest.raises(RuntimeError):
                await db.run(work)
            assert await _orgs(db, org_id) == 0

            async def commit(conn: AsyncConnection) -> None:
                await driver.execute(
                    _tx(conn), _INSERT_ORG, id=org_id, name=org_id, created_at=datetime.now(UTC)
                )

            await db.run(commit)
            assert await _orgs(db, org_id) == 1
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_errors_have_the_class_and_sqlstate_of_the_sqlalchemy_path(url: str) -> None:
    org_id = "org-drv-" + secrets.token_hex(4)

    async def scenario() -> None:
        db = Database(url, FAST)
        try:
            row = {"id": org_id, "name": org_id, "created_at": datetime.now(UTC)}
            await db.run(lambda conn: conn.execute(organizations.insert().values(row)))
            caught: list[BaseException] = []
            for raw in (False, True):
                async with db.engine.connect() as conn:
                    await conn.begin()
                    try:
                        if raw:
                            await driver.execute(
                                _tx(conn),
                                _INSERT_ORG,
                                id=org_id,
                                name=org_id,
                                created_at=datetime.now(UTC),
                            )
                        else:
                            await conn.execute(organizations.insert().values(row))
                    except DBAPIError as error:
                        caught.append(error)
                    await conn.rollback()
            via_sqlalchemy, via_driver = caught
            assert type(via_driver) is type(via_sqlalchemy) is IntegrityError
            assert isinstance(via_driver, DBAPIError)
            assert isinstance(via_sqlalchemy, DBAPIError)
            assert _sqlstate(via_driver) == _sqlstate(via_sqlalchemy) == "23505"
            assert is_retryable(via_driver)
            assert not via_driver.connection_invalidated
        finally:
            await db.dispose()

    asyncio.run(scenario())


@pytest.mark.parametrize("state", ["40001", "40P01"])
def test_serialization_failure_and_deadlock_are_retried(url: str, state: str) -> None:
    attempts = 0

    async def scenario() -> str:
        db = Database(url, FAST)
        try:

            async def work(conn: AsyncConnection) -> str:
                nonlocal attempts
                attempts += 1
                if attempts == 1:  # a real server error with this sqlstate, on the raw path
                    await driver.execute(
                        _tx(conn),
                        Statement(
                            "DO $$ BEGIN RAISE EXCEPTION 'conflict' "
                            f"USING ERRCODE = '{state}'; END $$"
                        ),
                    )
                rows = await driver.fetch(_tx(conn), Statement("SELECT 'done' AS x"))
                return str(rows[0]["x"])

            return await db.run(work)
        finally:
            await db.dispose()

    assert asyncio.run(scenario()) == "done"
    assert attempts == 2


def test_unique_violation_past_every_retry_is_busy(url: str) -> None:
    org_id = "org-drv-" + secrets.token_hex(4)
    attempts = 0

    async def scenario() -> None:
        nonlocal attempts
        db = Database(url, FAST)
        try:

            async def insert(conn: AsyncConnection) -> None:
                nonlocal attempts
                attempts += 1
                await driver.execute(
                    _tx(conn), _INSERT_ORG, id=org_id, name=org_id, created_at=datetime.now(UTC)
                )

            await db.run(insert)
            attempts = 0
            with pytest.raises(Busy):
                await db.run(insert)
        finally:
            await db.dispose()

    asyncio.run(scenario())
    assert attempts == MAX_ATTEMPTS


def test_statement_timeout_is_503_and_keeps_the_pool_working(url: str) -> None:
    async def scenario() -> None:
        db = Database(url, FAST)
        try:
            with pytest.raises(StatementTimeout, match="nothing was written"):
                await db.run(
                    lambda conn: driver.execute(_tx(conn), Statement("SELECT pg_sleep(5)"))
                )
            rows = await db.run(lambda conn: driver.fetch(_tx(conn), Statement("SELECT 1 AS x")))
            assert rows[0]["x"] == 1
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_connection_lost_before_commit_is_discarded_and_run_again(url: str) -> None:
    attempts = 0
    pids: list[int] = []

    async def scenario() -> int:
        db = Database(url, FAST)
        try:

            async def work(conn: AsyncConnection) -> int:
                nonlocal attempts
                attempts += 1
                pid = (await driver.fetch(_tx(conn), Statement("SELECT pg_backend_pid() AS p")))[0][
                    "p"
                ]
                pids.append(pid)
                if attempts == 1:  # the server ends this very connection mid-transaction
                    await driver.fetch(
                        _tx(conn), Statement("SELECT pg_terminate_backend(pg_backend_pid())")
                    )
                return int(pid)

            return await db.run(work)
        finally:
            await db.dispose()

    final = asyncio.run(scenario())
    assert attempts == 2
    assert pids[0] != pids[1] == final  # run again on a fresh connection


def test_alerts_read_on_the_driver_equal_the_sqlalchemy_records(url: str) -> None:
    """`active_alerts_of` (asyncpg) and `active_alerts` (SQLAlchemy) give equal records:
    money normalised, instants in UTC, owner details decoded alike."""
    org_id = "org-drv-" + secrets.token_hex(4)
    now = datetime.now(UTC)

    def alert(n: int, account_id: str | None) -> AlertRecord:
        return AlertRecord(
            id=f"alr-{n}",
            template_id="feature_balance_below",
            version=1,
            description=None,
            status="ACTIVE",
            interval=5,
            validity=None,
            account_id=account_id,
            feature_id="f-1",
            threshold=Decimal("1.50") if n else Decimal("1000"),
            window_days=None,
            owner_details={"team": "x", "n": n} if n else None,
            created_at=now,
            updated_at=now,
        )

    async def scenario() -> None:
        db = Database(url, FAST)
        try:

            async def work(conn: AsyncConnection) -> None:
                await driver.execute(_tx(conn), _INSERT_ORG, id=org_id, name=org_id, created_at=now)
                tx = db.tx(conn, org_id)
                for n, account in enumerate((None, "acc-1", "acc-2", "acc-3")):
                    await alert_store.insert_alert(tx, alert(n, account))
                template = ["feature_balance_below"]
                together = await alert_store.active_alerts_of(tx, ["acc-1", "acc-2"], template)
                one = await alert_store.active_alerts(tx, "acc-1", template)
                two = await alert_store.active_alerts(tx, "acc-2", template)
                assert together == sorted(
                    {a.id: a for a in [*one, *two]}.values(), key=lambda a: a.id
                )
                assert [a.id for a in together] == ["alr-0", "alr-1", "alr-2"]
                assert together[1].threshold == Decimal("1.5")
                assert str(together[1].threshold) == str(one[1].threshold) == "1.5"

            await db.run(work)
        finally:
            await db.dispose()

    asyncio.run(scenario())


class _Kinds:
    """A database observer that keeps the kinds of the errors it is told of."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def error(self, kind: str) -> None:
        self.seen.append(kind)

    def checkout(self) -> None:
        pass

    def checkin(self) -> None:
        pass


# Each statement fails in one way on both paths: a duplicate key, past the statement timeout,
# and the server ending the connection.
_FAILING = {
    "other": "INSERT INTO organizations (id, name, created_at) VALUES ('{org}', '{org}', now())",
    "timeout": "SELECT pg_sleep(5)",
    "disconnect": "SELECT pg_terminate_backend(pg_backend_pid())",
}


@pytest.mark.parametrize("kind", sorted(_FAILING))
def test_errors_reach_the_observer_as_through_sqlalchemy(url: str, kind: str) -> None:
    """`grantledger_database_errors_total` counts a failed statement of the raw path as it
    counts one of SQLAlchemy's: SQLAlchemy's `handle_error` event never sees the former."""
    org_id = "org-drv-" + secrets.token_hex(4)
    statement = _FAILING[kind].format(org=org_id)

    async def scenario() -> dict[bool, list[str]]:
        setup = Database(url, FAST)
        try:
            row = {"id": org_id, "name": org_id, "created_at": datetime.now(UTC)}
            await setup.run(lambda conn: conn.execute(organizations.insert().values(row)))
        finally:
            await setup.dispose()
        seen: dict[bool, list[str]] = {}
        for raw in (False, True):
            db = Database(url, FAST)  # one observer per path
            kinds = _Kinds()
            db.watch(kinds)
            try:
                async with db.engine.connect() as conn:
                    await conn.begin()
                    with pytest.raises(DBAPIError):
                        if raw:
                            await driver.execute(_tx(conn), Statement(statement))
                        else:
                            await conn.execute(sa.text(statement))
                    # What the failed statement itself reported: a later rollback on a lost
                    # connection is SQLAlchemy's own, and reports again.
                    seen[raw] = list(kinds.seen)
                    with contextlib.suppress(DBAPIError):
                        await conn.rollback()
            finally:
                await db.dispose()
        return seen

    seen = asyncio.run(scenario())
    assert seen == {False: [kind], True: [kind]}
