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
)

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


def refused_address(address: str) -> str | None:
    """Why a resolved IP must not receive webhooks (SSRF), or None when it is public."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if ip.is_private or ip.is_reserved or ip.is_multicast or ip.is_unspecified:
        return "a private or reserved address"
    if ip in ipaddress.ip_network("100.64.0.0/10"):
        return "a shared (carrier-grade NAT) address"
    return None
