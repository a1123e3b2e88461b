"""Organizations, their API keys, and server-wide secrets."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from grantledger.store.tables import api_keys, organizations, server_secrets


async def org_id_by_name(conn: AsyncConnection, name: str) -> str | None:
    row = await conn.execute(sa.select(organizations.c.id).where(organizations.c.name == name))
    return row.scalar_one_or_none()


async def insert_org(conn: AsyncConnection, org_id: str, name: str, at: datetime) -> None:
    await conn.execute(organizations.insert().values(id=org_id, name=name, created_at=at))


async def insert_key(
    conn: AsyncConnection, org_id: str, key_hash: str, prefix: str, at: datetime
) -> None:
    await conn.execute(
        api_keys.insert().values(key_hash=key_hash, org_id=org_id, prefix=prefix, created_at=at)
    )


async def key_exists(conn: AsyncConnection, key_hash: str) -> bool:
    row = await conn.execute(sa.select(api_keys.c.org_id).where(api_keys.c.key_hash == key_hash))
    return row.first() is not None


async def org_for_key(conn: AsyncConnection, key_hash: str) -> str | None:
    row = await conn.execute(sa.select(api_keys.c.org_id).where(api_keys.c.key_hash == key_hash))
    return row.scalar_one_or_none()


async def count_keys(conn: AsyncConnection) -> int:
    row = await conn.execute(sa.select(sa.func.count()).select_from(api_keys))
    return int(row.scalar_one())


async def secret(conn: AsyncConnection, name: str) -> str | None:
    row = await conn.execute(sa.select(server_secrets.c.value).where(server_secrets.c.name == name))
    return row.scalar_one_or_none()


async def insert_secret(conn: AsyncConnection, name: str, value: str) -> None:
    await conn.execute(server_secrets.insert().values(name=name, value=value))
