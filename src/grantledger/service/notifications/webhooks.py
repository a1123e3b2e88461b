"""Webhook endpoints (grantledger extension): create, read, change, delete, rotate the secret;
their deliveries: list and retry."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from grantledger.domain.errors import Conflict, InvalidInput, NotFound
from grantledger.domain.webhooks import EVENT_TYPES, MAX_ENDPOINTS, Delivery, refused_address
from grantledger.service.context import Tenant
from grantledger.service.notifications import sealing
from grantledger.service.notifications.outbox import REAL_TIME
from grantledger.store.notifications import outbox
from grantledger.store.notifications import webhooks as store
from grantledger.store.notifications.outbox import MessageRecord
from grantledger.store.notifications.webhooks import EndpointRecord
from grantledger.store.paging import Page
from grantledger.store.tx import Tx

STATUSES = ("ACTIVE", "INACTIVE")


class TooManyEndpoints(Conflict):
    """The organization has MAX_ENDPOINTS endpoints already (409)."""


@dataclass(frozen=True)
class EndpointInput:
    url: str
    event_types: tuple[str, ...] | None = None
    description: str | None = None


@dataclass(frozen=True)
class EndpointChange:
    url: str | None = None
    event_types: tuple[str, ...] | None = None
    status: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class Created:
    endpoint: EndpointRecord
    secret: str  # shown once


class UrlPolicy:
    """Where webhooks may go: http(s) only; no private address unless allowed, after DNS."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private

    async def check(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput("url must be an http:// or https:// URL with a host")
        if parts.username or parts.password:
            raise InvalidInput("url must not carry a user name or password")
        try:
            port = parts.port
        except ValueError as bad:
            raise InvalidInput("url has an invalid port") from bad
        if self.allow_private:
            return
        try:
            found = await asyncio.get_running_loop().getaddrinfo(
                parts.hostname, port or 443, type=socket.SOCK_STREAM
            )
        except (OSError, UnicodeError) as bad:
            raise InvalidInput(f"url host {parts.hostname} does not resolve") from bad
        for *_, address in found:
            why = refused_address(str(address[0]))
            if why is not None:
                raise InvalidInput(
                    f"url host {parts.hostname} resolves to {why}; webhooks go to public "
                    "addresses only (GRANTLEDGER_WEBHOOK_ALLOW_PRIVATE=1 lifts this)"
                )


def _event_types(given: tuple[str, ...] | None) -> list[str] | None:
    if given is None:
        return None
    unknown = sorted(set(given) - set(EVENT_TYPES))
    if unknown:
        raise InvalidInput(
            f"eventTypes has unknown types {', '.join(unknown)}; known: {', '.join(EVENT_TYPES)}"
        )
    if not given:
        raise InvalidInput("eventTypes must not be empty (omit it to receive every type)")
    return sorted(set(given))


async def create(tenant: Tenant, key: bytes, policy: UrlPolicy, given: EndpointInput) -> Created:
    await policy.check(given.url)
    event_types = _event_types(given.event_types)
    secret = sealing.new_secret()
    sealed = sealing.seal(key, secret)

    async def work(tx: Tx) -> Created:
        if await store.count_endpoints(tx) >= MAX_ENDPOINTS:
            raise TooManyEndpoints(
                f"this organization has {MAX_ENDPOINTS} webhook endpoints, the most it may "
                "have; delete one (or subscribe an existing one to more eventTypes) first"
            )
        now = tenant.now()
        record = EndpointRecord(
            id=tenant.new_id("whep", now),
            url=given.url,
            description=given.description,
            event_types=event_types,
            status="ACTIVE",
            secret_sealed=sealed,
            created_at=now,
            updated_at=now,
        )
        await store.insert_endpoint(tx, record)
        return Created(record, secret)

    return await tenant.run(work)


async def _require(tx: Tx, endpoint_id: str, *, lock: bool = False) -> EndpointRecord:
    found = await store.get_endpoint(tx, endpoint_id, lock=lock)
    if found is None:
        raise NotFound(f"webhook endpoint {endpoint_id} not found")
    return found


async def get(tenant: Tenant, endpoint_id: str) -> EndpointRecord:
    async def work(tx: Tx) -> EndpointRecord:
        return await _require(tx, endpoint_id)

    return await tenant.run(work)


async def list_endpoints(tenant: Tenant, after: str | None, limit: int) -> Page[EndpointRecord]:
    async def work(tx: Tx) -> Page[EndpointRecord]:
        return await store.list_endpoints(tx, after, limit)

    return await tenant.read_behind(work)


async def change(
    tenant: Tenant, policy: UrlPolicy, endpoint_id: str, given: EndpointChange
) -> EndpointRecord:
    if given.url is not None:
        await policy.check(given.url)
    if given.status is not None and given.status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}")
    event_types = _event_types(given.event_types)

    async def work(tx: Tx) -> EndpointRecord:
        found = await _require(tx, endpoint_id, lock=True)
        changed = replace(
            found,
            url=given.url or found.url,
            event_types=event_types if given.event_types is not None else found.event_types,
            status=given.status or found.status,
            description=given.description if given.description is not None else found.description,
            updated_at=tenant.now(),
        )
        await store.update_endpoint(tx, changed)
        return changed

    return await tenant.run(work)


async def rotate_secret(tenant: Tenant, key: bytes, endpoint_id: str) -> Created:
    """A new secret signs every attempt from now on, including retries of older messages."""
    secret = sealing.new_secret()
    sealed = sealing.seal(key, secret)

    async def work(tx: Tx) -> Created:
        found = await _require(tx, endpoint_id, lock=True)
        changed = replace(found, secret_sealed=sealed, updated_at=tenant.now())
        await store.update_endpoint(tx, changed)
        return Created(changed, secret)

    return await tenant.run(work)


async def delete(tenant: Tenant, endpoint_id: str) -> None:
    """The endpoint and its undelivered messages go; nothing more is sent to it."""

    async def work(tx: Tx) -> None:
        await _require(tx, endpoint_id, lock=True)
        await outbox.delete_endpoint_messages(tx, endpoint_id)
        await store.delete_endpoint(tx, endpoint_id)

    await tenant.run(work)


async def deliveries(
    tenant: Tenant, endpoint_id: str, after: str | None, limit: int
) -> Page[MessageRecord]:
    async def work(tx: Tx) -> Page[MessageRecord]:
        await _require(tx, endpoint_id)
        return await outbox.list_messages(tx, endpoint_id, after, limit)

    return await tenant.run(work)


async def retry(tenant: Tenant, endpoint_id: str, message_id: str) -> MessageRecord:
    """Send a message again from the start of the schedule (FAILED or DELIVERED alike)."""

    async def work(tx: Tx) -> MessageRecord:
        await _require(tx, endpoint_id)
        found = await outbox.get_message(tx, endpoint_id, message_id)
        if found is None:
            raise NotFound(f"message {message_id} not found for endpoint {endpoint_id}")
        if found.status == Delivery.PENDING:
            return found  # already queued: a second retry must not send it twice
        now = REAL_TIME.now()
        await outbox.requeue(tx, message_id, now)
        return replace(found, status=Delivery.PENDING, attempts=0, next_attempt_at=now)

    return await tenant.run(work)
