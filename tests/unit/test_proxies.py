"""Which client, scheme and host a request gets from X-Forwarded-* (api/proxies.py)."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

from grantledger.api.proxies import TrustedProxies

NETWORKS = (ipaddress.ip_network("10.0.0.0/24"), ipaddress.ip_network("::1/128"))


def _seen(peer: str, **headers: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.update(scope)

    scope = {
        "type": "http",
        "client": (peer, 5000),
        "scheme": "http",
        "headers": [(b"host", b"internal:8000")]
        + [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
    }
    asyncio.run(TrustedProxies(app, NETWORKS)(scope, None, None))  # type: ignore[arg-type]
    return seen


def test_a_trusted_proxy_sets_client_scheme_and_host() -> None:
    seen = _seen(
        "10.0.0.7",
        x_forwarded_for="203.0.113.9",
        x_forwarded_proto="https",
        x_forwarded_host="billing.example.com",
    )
    assert seen["client"] == ("203.0.113.9", 0)
    assert seen["scheme"] == "https"
    assert dict(seen["headers"])[b"host"] == b"billing.example.com"


def test_the_client_is_the_right_most_untrusted_address() -> None:
    # The client wrote "1.2.3.4"; the first proxy appended the real client; a second proxy
    # (also trusted) appended the first.
    seen = _seen("10.0.0.7", x_forwarded_for="1.2.3.4, 198.51.100.20, 10.0.0.9")
    assert seen["client"] == ("198.51.100.20", 0)


def test_anyone_else_changes_nothing() -> None:
    seen = _seen("192.0.2.50", x_forwarded_for="1.2.3.4", x_forwarded_proto="https")
    assert seen["client"] == ("192.0.2.50", 5000) and seen["scheme"] == "http"


def test_nonsense_is_ignored() -> None:
    seen = _seen("::1", x_forwarded_proto="gopher", x_forwarded_host="a b/c")
    assert seen["scheme"] == "http"
    assert dict(seen["headers"])[b"host"] == b"internal:8000"
