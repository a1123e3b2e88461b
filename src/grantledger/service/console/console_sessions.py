"""Console sign-in sessions: a random cookie token bound to a server-side row.

The row (not the cookie) is the session: signing out deletes it, so a copied cookie is dead
from that moment on, in every server process. The API key itself is never stored or echoed;
only its hash ties the session to the key, so revoking the key ends its sessions too.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from grantledger.service.context import Context
from grantledger.service.operations import tenants
from grantledger.store.console import console_sessions as store
from grantledger.store.console.console_sessions import SessionRecord

SESSION_TTL = timedelta(hours=8)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def sign_in(ctx: Context, key: str) -> tuple[str, SessionRecord] | None:
    """A new session for the key's organization and its cookie token; None for a wrong key."""
    org_id = await tenants.authenticate(ctx, key)
    if org_id is None:
        return None
    token = secrets.token_urlsafe(32)
    key_hash = tenants.hash_key(key)
    now = ctx.now()

    async def work(conn: AsyncConnection) -> SessionRecord:
        # Expired rows of every organization go here, a few at a time, instead of in a sweeper.
        await store.delete_expired(conn, now, 100)
        label = await store.key_label(conn, key_hash)
        session = SessionRecord(
            token_hash=token_hash(token),
            org_id=org_id,
            key_hash=key_hash,
            actor=f"key {label}" if label else "key (unknown)",
            csrf=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + SESSION_TTL,
        )
        await store.insert_session(conn, session)
        return session

    return token, await ctx.db.run(work)


async def current(ctx: Context, token: str) -> SessionRecord | None:
    """The live session of a cookie token: not signed out, not expired, its key still valid."""
    now = ctx.now()

    async def work(conn: AsyncConnection) -> SessionRecord | None:
        return await store.live_session(conn, token_hash(token), now)

    return await ctx.db.run(work)


async def sign_out(ctx: Context, session: SessionRecord) -> None:
    async def work(conn: AsyncConnection) -> None:
        await store.delete_session(conn, session.token_hash)

    await ctx.db.run(work)
