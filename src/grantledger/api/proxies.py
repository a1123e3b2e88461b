"""What a trusted reverse proxy says about the client: its address, scheme and host.

Behind a TLS-terminating proxy the server sees plain HTTP from the proxy's address, so the
console's same-origin check fails (`https://…` against `http://…`), its cookie never gets
`Secure`, and every client shares the proxy's failure budget. The proxy says what it saw in
`X-Forwarded-For`, `-Proto` and `-Host`; those headers are honoured only on connections from the
addresses in GRANTLEDGER_TRUSTED_PROXIES (anyone else could send them), and then:

- the client is the right-most `X-Forwarded-For` address that is not itself a trusted proxy (the
  entries left of it were written by the client and prove nothing);
- the scheme is the last `X-Forwarded-Proto` value (`http` or `https`, anything else ignored);
- the host is the last `X-Forwarded-Host` value, when it looks like a host (and optional port).
"""

from __future__ import annotations

import ipaddress
import re

from starlette.types import ASGIApp, Receive, Scope, Send

from grantledger.config import Network

_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253})(:[0-9]{1,5})?$")


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)


def _values(headers: list[tuple[bytes, bytes]], name: bytes) -> list[str]:
    """Every comma-separated value of every header `name`, in order."""
    found: list[str] = []
    for key, value in headers:
        if key == name:
            found.extend(v.strip() for v in value.decode("latin-1").split(","))
    return [v for v in found if v]


def _client(forwarded: list[str], networks: tuple[Network, ...]) -> str | None:
    for entry in reversed(forwarded):
        if not _trusted(entry, networks):
            try:
                return str(ipaddress.ip_address(entry.strip("[]")))
            except ValueError:
                return None  # not an address: nothing to the left of it can be believed
    return forwarded[0] if forwarded else None


class TrustedProxies:
    """Pure ASGI middleware, outermost: rewrites client, scheme and host from a trusted proxy."""

    def __init__(self, app: ASGIApp, networks: tuple[Network, ...]) -> None:
        self.app = app
        self.networks = networks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        peer = scope.get("client")
        if scope["type"] == "http" and self.networks and peer and _trusted(peer[0], self.networks):
            self._apply(scope)
        await self.app(scope, receive, send)

    def _apply(self, scope: Scope) -> None:
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        client = _client(_values(headers, b"x-forwarded-for"), self.networks)
        if client is not None:
            scope["client"] = (client, 0)
        proto = _values(headers, b"x-forwarded-proto")
        if proto and proto[-1].lower() in ("http", "https"):
            scope["scheme"] = proto[-1].lower()
        host = _values(headers, b"x-forwarded-host")
        if host and _HOST.match(host[-1]):
            kept = [(k, v) for k, v in headers if k != b"host"]
            scope["headers"] = [*kept, (b"host", host[-1].encode("latin-1"))]
