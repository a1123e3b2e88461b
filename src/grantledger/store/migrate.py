"""Bring a database to the newest schema with Alembic (used by `serve` and `migrate`)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncConnection

from grantledger.store.database import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str, pooler: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["url"] = url
    # Through a transaction-pooling proxy the migrations' connection needs its settings too.
    config.attributes["pooler"] = pooler
    return config


def upgrade(url: str, pooler: str | None = None) -> None:
    command.upgrade(alembic_config(url, pooler), "head")


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("")).get_current_head()
    assert head is not None
    return head


async def schema_is_current(db: Database) -> bool:
    """Whether the database answers at the newest schema (raises on a database failure)."""

    async def version(conn: AsyncConnection) -> str | None:
        row = await conn.execute(sa.text("SELECT version_num FROM alembic_version"))
        return row.scalar_one_or_none()

    # A read snapshot takes no write lock on SQLite, unlike an ordinary unit of work.
    return await db.read_snapshot(version) == head_revision()
