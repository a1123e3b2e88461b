"""Webhook rules with no I/O: event types, the retry schedule, which addresses are refused."""

from __future__ import annotations

import ipaddress
import random
from datetime import datetime, timedelta

EVENT_TYPES = (
    "incident.opened",
    "incident.resolved",
    "credit.granted",
    "credit.consumed",
    "credit.expired",
    "credit.voided",
    "hold.placed",
    "hold.captured",
    "hold.released",
    "auto_topup.granted",
    "usage.shortfall",
    "event.reverted",
    "feature_hold.expired",
    "feature_hold.shortfall",
)

# Webhook endpoints one organization may have. Every announced fact is one outbox row per
# endpoint that wants it, so this bounds the fan-out of a change: one debit writes at most this
# many rows per fact it announces (a hold placed, a hold captured, an incident...).
MAX_ENDPOINTS = 20

# Delays after the first attempt (seconds): about 2.8 days in all, like the common schedules.
DEFAULT_RETRY_SECONDS = (5, 300, 1800, 7200, 18000, 36000, 36000, 72000, 72000)
JITTER = 0.1  # float-ok: a fraction of a delay


class Delivery:
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


def next_attempt(
    schedule: tuple[float, ...],  # float-ok: seconds
    attempts_made: int,
    now: datetime,
    rng: random.Random | None = None,
) -> datetime | None:
    """When to try again after `attempts_made` attempts, or None when the schedule is spent.

    Jitter (up to +10%) spreads the retries of many messages that failed together.
    """
    if attempts_made > len(schedule):
        return None
    if attempts_made == 0:
        return now
    delay = schedule[attempts_made - 1]
    spread = (rng or random).uniform(0, JITTER) * delay  # float-ok: seconds
    return now + timedelta(seconds=delay + spread)


# IPv6 forms that carry an IPv4 address a router or the host may deliver to: the IPv4 inside
# is what such a packet reaches, so it is what is judged (RFC 3056 6to4, RFC 6052 NAT64 with
# the well-known and the local-use prefix, RFC 4291 IPv4-compatible, RFC 2765 IPv4-translated).
_SIXTOFOUR = ipaddress.ip_network("2002::/16")
_EMBEDDING = (
    ipaddress.ip_network("64:ff9b::/96"),
    ipaddress.ip_network("64:ff9b:1::/48"),
    ipaddress.ip_network("::/96"),
    ipaddress.ip_network("::ffff:0:0:0/96"),
)
# RFC 5214 ISATAP: an interface identifier of 0000:5efe or 0200:5efe, then an IPv4 address.
_ISATAP_IDS = (0x00005EFE, 0x02005EFE)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


def _carried(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries in one of the forms above, if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _SIXTOFOUR:
        return ip.sixtofour
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if any(ip in network for network in _EMBEDDING):
        return low32
    if (int(ip) >> 32) & 0xFFFFFFFF in _ISATAP_IDS:
        return low32
    return None


def refused_address(address: str) -> str | None:
    """Why a resolved IP must not receive webhooks (SSRF), or None when it is public.

    An IPv6 address that carries an IPv4 one (6to4, NAT64, IPv4-mapped or -compatible, ISATAP)
    is judged by the IPv4 address inside: `2002:7f00:1::` is loopback.
    """
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        ip = _carried(ip) or ip
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if ip.is_private or ip.is_reserved or ip.is_multicast or ip.is_unspecified:
        return "a private or reserved address"
    if ip in _CGNAT:
        return "a shared (carrier-grade NAT) address"
    return None


# How many attempts one delivery worker (one server process) has in flight at most: in all, to
# one endpoint, and for one organization. A receiver that is slow or never answers holds at
# most PER_ENDPOINT of them, an organization at most PER_ORGANIZATION, and the worker never
# waits for one attempt to finish before starting others (docs/operations.md, "Webhooks").
IN_FLIGHT = 50
PER_ENDPOINT = 2
PER_ORGANIZATION = 10

Destination = tuple[str, str]  # (organization id, endpoint id)


def pick_due(
    candidates: list[Destination],
    free: int,
    by_endpoint: dict[Destination, int],
    by_organization: dict[str, int],
) -> list[int]:
    """Which of the due messages (their destinations, oldest due first) to start now: in order,
    each while its endpoint and its organization are under their share of attempts in flight
    (counting those already flying and those picked before it), up to `free` in all."""
    endpoint_load = dict(by_endpoint)
    organization_load = dict(by_organization)
    picked: list[int] = []
    for index, (org_id, endpoint_id) in enumerate(candidates):
        if len(picked) >= free:
            break
        key = (org_id, endpoint_id)
        if endpoint_load.get(key, 0) >= PER_ENDPOINT:
            continue
        if organization_load.get(org_id, 0) >= PER_ORGANIZATION:
            continue
        endpoint_load[key] = endpoint_load.get(key, 0) + 1
        organization_load[org_id] = organization_load.get(org_id, 0) + 1
        picked.append(index)
    return picked
