"""Organizations, API keys and the server secret that signs page tokens."""

from __future__ import annotations

import hashlib
import secrets
import time

from sqlalchemy.ext.asyncio import AsyncConnection

from grantledger.domain.ids import random_base62
from grantledger.service.context import Context
from grantledger.store import tenants as store

KEY_PREFIX = "gl_"
_AUTH_CACHE_SECONDS = 30.0
_auth_cache: dict[str, tuple[str, float]] = {}


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def generate_key() -> str:
    return KEY_PREFIX + random_base62(40)


async def _org_for_name(ctx: Context, conn: AsyncConnection, name: str) -> str:
    org_id = await store.org_id_by_name(conn, name)
    if org_id is None:
        org_id = ctx.new_id("org")
        await store.insert_org(conn, org_id, name, ctx.now())
    return org_id


async def create_key(ctx: Context, org_name: str) -> str:
    """A new key for the organization, creating the organization if it is new."""
    key = generate_key()

    async def work(conn: AsyncConnection) -> str:
        org_id = await _org_for_name(ctx, conn, org_name)
        await store.insert_key(conn, org_id, hash_key(key), key[:8], ctx.now())
        return key

    return await ctx.db.run(work)


async def ensure_key(ctx: Context, org_name: str, key: str) -> None:
    """Make sure `key` exists for the organization (used for GRANTLEDGER_BOOTSTRAP_KEY)."""

    async def work(conn: AsyncConnection) -> None:
        if await store.key_exists(conn, hash_key(key)):
            return
        org_id = await _org_for_name(ctx, conn, org_name)
        await store.insert_key(conn, org_id, hash_key(key), key[:8], ctx.now())

    await ctx.db.run(work)


async def has_any_key(ctx: Context) -> bool:
    async def work(conn: AsyncConnection) -> bool:
        return await store.count_keys(conn) > 0

    return await ctx.db.run(work)


async def authenticate(ctx: Context, key: str) -> str | None:
    """The organization a key belongs to. Keys are never revoked, so a short cache is safe."""
    digest = hash_key(key)
    cached = _auth_cache.get(digest)
    if cached and cached[1] > time.monotonic():
        return cached[0]

    async def work(conn: AsyncConnection) -> str | None:
        return await store.org_for_key(conn, digest)

    org_id = await ctx.db.run(work)
    if org_id is not None:
        _auth_cache[digest] = (org_id, time.monotonic() + _AUTH_CACHE_SECONDS)
    return org_id


async def server_secret(ctx: Context, name: str) -> str:
    """A random secret shared by every process on the database, created on first use."""

    async def work(conn: AsyncConnection) -> str:
        value = await store.secret(conn, name)
        if value is None:
            value = secrets.token_hex(32)
            await store.insert_secret(conn, name, value)
        return value

    return await ctx.db.run(work)
