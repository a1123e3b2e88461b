"""Organizations, API keys and the server secret that signs page tokens."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections import OrderedDict

from sqlalchemy.ext.asyncio import AsyncConnection

from grantledger.domain.ids import random_base62
from grantledger.service.context import Context
from grantledger.store.operations import tenants as store
from grantledger.store.operations.tenants import KeyRecord

KEY_PREFIX = "gl_"
PREFIX_LENGTH = 8
# A revoked key must stop working on every process within a second: no longer than that.
_KNOWN_SECONDS = 1.0  # float-ok: seconds
# Wrong keys are remembered longer: a new key is random, so it is never one tried before.
_UNKNOWN_SECONDS = 10.0  # float-ok: seconds
_UNKNOWN_MAX = 10_000
_known: dict[str, tuple[str, float]] = {}  # float-ok: expiry instants
_unknown: OrderedDict[str, float] = OrderedDict()  # float-ok: expiry instants
# One database lookup per key at a time: when a busy key's cache entry expires, the requests
# arriving together share a single query instead of each taking a pooled connection.
_lookups: dict[str, asyncio.Future[str | None]] = {}


class UnknownOrganization(Exception):
    """`keys list|revoke|rotate` named an organization that does not exist."""


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


async def create_key(ctx: Context, org_name: str, name: str | None = None) -> str:
    """A new key for the organization, creating the organization if it is new."""
    key = generate_key()

    async def work(conn: AsyncConnection) -> str:
        org_id = await _org_for_name(ctx, conn, org_name)
        await store.insert_key(conn, org_id, hash_key(key), key[:PREFIX_LENGTH], ctx.now(), name)
        return key

    return await ctx.db.run(work)


async def ensure_key(ctx: Context, org_name: str, key: str) -> None:
    """Make sure `key` exists for the organization (used for GRANTLEDGER_BOOTSTRAP_KEY)."""

    async def work(conn: AsyncConnection) -> None:
        if await store.key_exists(conn, hash_key(key)):
            return
        org_id = await _org_for_name(ctx, conn, org_name)
        await store.insert_key(conn, org_id, hash_key(key), key[:PREFIX_LENGTH], ctx.now())

    await ctx.db.run(work)


async def has_any_key(ctx: Context) -> bool:
    async def work(conn: AsyncConnection) -> bool:
        return await store.count_keys(conn) > 0

    return await ctx.db.run(work)


async def _existing_org(conn: AsyncConnection, org_name: str) -> str:
    org_id = await store.org_id_by_name(conn, org_name)
    if org_id is None:
        raise UnknownOrganization(org_name)
    return org_id


async def org_id_named(ctx: Context, org_name: str) -> str:
    """The id of the organization named `org_name` (UnknownOrganization when there is none)."""
    return await ctx.db.run(lambda conn: _existing_org(conn, org_name))


async def list_keys(ctx: Context, org_name: str) -> list[KeyRecord]:
    async def work(conn: AsyncConnection) -> list[KeyRecord]:
        return await store.keys_of(conn, await _existing_org(conn, org_name))

    return await ctx.db.run(work)


async def revoke_keys(ctx: Context, org_name: str, prefix: str | None) -> list[str]:
    """Revoke one key (by its prefix, or the key itself) or, with None, every live key."""

    async def work(conn: AsyncConnection) -> list[str]:
        org_id = await _existing_org(conn, org_name)
        short = prefix[:PREFIX_LENGTH] if prefix is not None else None
        return await store.revoke_keys(conn, org_id, short, ctx.now())

    return await ctx.db.run(work)


async def rotate_keys(ctx: Context, org_name: str, name: str | None) -> tuple[str, list[str]]:
    """One new key and every older live key revoked, in one transaction."""
    key = generate_key()

    async def work(conn: AsyncConnection) -> tuple[str, list[str]]:
        org_id = await _existing_org(conn, org_name)
        revoked = await store.revoke_keys(conn, org_id, None, ctx.now())
        await store.insert_key(conn, org_id, hash_key(key), key[:PREFIX_LENGTH], ctx.now(), name)
        return key, revoked

    return await ctx.db.run(work)


async def authenticate(ctx: Context, key: str) -> str | None:
    """The organization a live key belongs to, or None.

    A known key is trusted for a second (so revocation reaches every process within one); an
    unknown key is remembered for ten, in a bounded map, so repeating it costs no query.
    """
    digest = hash_key(key)
    now = time.monotonic()
    cached = _known.get(digest)
    if cached and cached[1] > now:
        return cached[0]
    bad = _unknown.get(digest)
    if bad is not None and bad > now:
        return None

    pending = _lookups.get(digest)
    if pending is None:
        pending = asyncio.ensure_future(_look_up(ctx, digest))
        _lookups[digest] = pending
        pending.add_done_callback(lambda _: _lookups.pop(digest, None))
    # Shielded: one waiter giving up (its client left) must not cancel the others' lookup.
    return await asyncio.shield(pending)


async def _look_up(ctx: Context, digest: str) -> str | None:
    async def work(conn: AsyncConnection) -> str | None:
        return await store.org_for_key(conn, digest)

    org_id = await ctx.db.run(work)
    now = time.monotonic()
    if org_id is not None:
        if len(_known) > _UNKNOWN_MAX:
            _known.clear()  # only live keys land here; a burst of them just re-reads
        _known[digest] = (org_id, now + _KNOWN_SECONDS)
    else:
        _unknown[digest] = now + _UNKNOWN_SECONDS
        _unknown.move_to_end(digest)
        while len(_unknown) > _UNKNOWN_MAX:
            _unknown.popitem(last=False)
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
