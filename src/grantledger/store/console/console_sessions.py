"""Console sign-in session rows. Looked up by token before any tenant is known, so these take
the plain connection (like `store/operations/tenants.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from grantledger.store.tables import api_keys, console_sessions


@dataclass(frozen=True)
class SessionRecord:
    token_hash: str
    org_id: str
    key_hash: str
    actor: str  # how the acting key is named in the ledger and the console's action log
    csrf: str
    created_at: datetime
    expires_at: datetime


async def key_label(conn: AsyncConnection, key_hash: str) -> str | None:
    """How `keys list` names a key: its name and prefix, or its prefix; None for no such key."""
    row = (
        await conn.execute(
            sa.select(api_keys.c.prefix, api_keys.c.name).where(api_keys.c.key_hash == key_hash)
        )
    ).first()
    if row is None:
        return None
    return f"{row.name} ({row.prefix}…)" if row.name else f"{row.prefix}…"


async def insert_session(conn: AsyncConnection, session: SessionRecord) -> None:
    await conn.execute(
        console_sessions.insert().values(
            token_hash=session.token_hash,
            org_id=session.org_id,
            key_hash=session.key_hash,
            actor=session.actor,
            csrf=session.csrf,
            created_at=session.created_at,
            expires_at=session.expires_at,
        )
    )


async def delete_expired(conn: AsyncConnection, now: datetime, limit: int) -> None:
    stale = (
        sa.select(console_sessions.c.token_hash)
        .where(console_sessions.c.expires_at < now)
        .limit(limit)
    )
    await conn.execute(console_sessions.delete().where(console_sessions.c.token_hash.in_(stale)))


async def live_session(
    conn: AsyncConnection, token_hash: str, now: datetime
) -> SessionRecord | None:
    """The session of a token if it has not expired and its key is still valid (not revoked)."""
    row = (
        await conn.execute(
            sa.select(console_sessions)
            .join(api_keys, api_keys.c.key_hash == console_sessions.c.key_hash)
            .where(
                console_sessions.c.token_hash == token_hash,
                console_sessions.c.expires_at > now,
                api_keys.c.org_id == console_sessions.c.org_id,
                api_keys.c.revoked_at.is_(None),
            )
        )
    ).first()
    if row is None:
        return None
    return SessionRecord(
        row.token_hash,
        row.org_id,
        row.key_hash,
        row.actor,
        row.csrf,
        row.created_at,
        row.expires_at,
    )


async def delete_session(conn: AsyncConnection, token_hash: str) -> None:
    await conn.execute(console_sessions.delete().where(console_sessions.c.token_hash == token_hash))
