"""Console sign-in sessions: a random cookie token bound to a server-side row.

The row (not the cookie) is the session: signing out deletes it, so a copied cookie is dead
from that moment on, in every server process. The API key itself is never stored or echoed;
only its hash ties the session to the key, so a key that disappears ends its sessions too.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from grantledger.console.tables import console_sessions
from grantledger.service import tenants
from grantledger.service.context import Context, Tenant
from grantledger.store.tables import api_keys

SESSION_TTL = timedelta(hours=8)


@dataclass(frozen=True)
class Session:
    token_hash: str
    org_id: str
    actor: str  # how the acting key is named in the ledger and the console's action log
    csrf: str
    expires_at: datetime

    def tenant(self, ctx: Context) -> Tenant:
        return ctx.tenant(self.org_id)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def _key_label(conn: AsyncConnection, key_hash: str) -> str:
    row = await conn.execute(sa.select(api_keys.c.prefix).where(api_keys.c.key_hash == key_hash))
    prefix = row.scalar_one_or_none()
    return f"key {prefix}…" if prefix else "key (unknown)"


async def sign_in(ctx: Context, key: str) -> tuple[str, Session] | None:
    """A new session for the key's organization and its cookie token; None for a wrong key."""
    org_id = await tenants.authenticate(ctx, key)
    if org_id is None:
        return None
    token = secrets.token_urlsafe(32)
    key_hash = tenants.hash_key(key)
    now = ctx.now()

    async def work(conn: AsyncConnection) -> Session:
        # Expired rows of every organization go here, a few at a time, instead of in a sweeper.
        stale = (
            sa.select(console_sessions.c.token_hash)
            .where(console_sessions.c.expires_at < now)
            .limit(100)
        )
        await conn.execute(
            console_sessions.delete().where(console_sessions.c.token_hash.in_(stale))
        )
        session = Session(
            token_hash=_digest(token),
            org_id=org_id,
            actor=await _key_label(conn, key_hash),
            csrf=secrets.token_urlsafe(32),
            expires_at=now + SESSION_TTL,
        )
        await conn.execute(
            console_sessions.insert().values(
                token_hash=session.token_hash,
                org_id=org_id,
                key_hash=key_hash,
                actor=session.actor,
                csrf=session.csrf,
                created_at=now,
                expires_at=session.expires_at,
            )
        )
        return session

    return token, await ctx.db.run(work)


async def current(ctx: Context, token: str) -> Session | None:
    """The live session of a cookie token: not signed out, not expired, its key still valid."""
    now = ctx.now()

    async def work(conn: AsyncConnection) -> Session | None:
        row = (
            await conn.execute(
                sa.select(console_sessions)
                .join(api_keys, api_keys.c.key_hash == console_sessions.c.key_hash)
                .where(
                    console_sessions.c.token_hash == _digest(token),
                    console_sessions.c.expires_at > now,
                    api_keys.c.org_id == console_sessions.c.org_id,
                )
            )
        ).first()
        if row is None:
            return None
        return Session(row.token_hash, row.org_id, row.actor, row.csrf, row.expires_at)

    return await ctx.db.run(work)


async def sign_out(ctx: Context, token_hash: str) -> None:
    async def work(conn: AsyncConnection) -> None:
        await conn.execute(
            console_sessions.delete().where(console_sessions.c.token_hash == token_hash)
        )

    await ctx.db.run(work)
