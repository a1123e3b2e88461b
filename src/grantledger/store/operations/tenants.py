"""Organizations, their API keys, and server-wide secrets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from grantledger.store.tables import api_keys, organizations, server_secrets


@dataclass(frozen=True)
class KeyRecord:
    """What may be shown of an API key: never the key, only its first characters."""

    prefix: str
    name: str | None
    created_at: datetime
    revoked_at: datetime | None


async def org_id_by_name(conn: AsyncConnection, name: str) -> str | None:
    row = await conn.execute(sa.select(organizations.c.id).where(organizations.c.name == name))
    return row.scalar_one_or_none()


async def insert_org(conn: AsyncConnection, org_id: str, name: str, at: datetime) -> None:
    await conn.execute(organizations.insert().values(id=org_id, name=name, created_at=at))


async def insert_key(
    conn: AsyncConnection,
    org_id: str,
    key_hash: str,
    prefix: str,
    at: datetime,
    name: str | None = None,
) -> None:
    await conn.execute(
        api_keys.insert().values(
            key_hash=key_hash, org_id=org_id, prefix=prefix, created_at=at, name=name
        )
    )


async def key_exists(conn: AsyncConnection, key_hash: str) -> bool:
    row = await conn.execute(sa.select(api_keys.c.org_id).where(api_keys.c.key_hash == key_hash))
    return row.first() is not None


async def org_for_key(conn: AsyncConnection, key_hash: str) -> str | None:
    """The organization of a key that is not revoked."""
    row = await conn.execute(
        sa.select(api_keys.c.org_id).where(
            api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None)
        )
    )
    return row.scalar_one_or_none()


async def count_keys(conn: AsyncConnection) -> int:
    row = await conn.execute(sa.select(sa.func.count()).select_from(api_keys))
    return int(row.scalar_one())


async def keys_of(conn: AsyncConnection, org_id: str) -> list[KeyRecord]:
    rows = await conn.execute(
        sa.select(api_keys.c.prefix, api_keys.c.name, api_keys.c.created_at, api_keys.c.revoked_at)
        .where(api_keys.c.org_id == org_id)
        .order_by(api_keys.c.created_at, api_keys.c.prefix)
    )
    return [KeyRecord(r.prefix, r.name, r.created_at, r.revoked_at) for r in rows]


async def revoke_keys(
    conn: AsyncConnection, org_id: str, prefix: str | None, at: datetime
) -> list[str]:
    """Revoke the organization's live keys (the one with `prefix`, or all); their prefixes."""
    condition = sa.and_(api_keys.c.org_id == org_id, api_keys.c.revoked_at.is_(None))
    if prefix is not None:
        condition = sa.and_(condition, api_keys.c.prefix == prefix)
    rows = await conn.execute(
        api_keys.update().where(condition).values(revoked_at=at).returning(api_keys.c.prefix)
    )
    return [r.prefix for r in rows]


async def secret(conn: AsyncConnection, name: str) -> str | None:
    row = await conn.execute(sa.select(server_secrets.c.value).where(server_secrets.c.name == name))
    return row.scalar_one_or_none()


async def insert_secret(conn: AsyncConnection, name: str, value: str) -> None:
    await conn.execute(server_secrets.insert().values(name=name, value=value))
