"""The HTTP connection guard: uvicorn's httptools protocol with the limits it lacks.

uvicorn bounds neither header size nor count on its httptools parser, never times out a
request that is still sending its headers or body, and never closes a connection on which no
request ever started. Each of those lets an unauthenticated client hold memory or a slot
forever, so this protocol adds them. It stays on httptools (not h11, which has a header limit)
because the gate's hot path is measured in tens of microseconds per request.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
from collections import Counter
from typing import Any

import httptools
import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from grantledger.config import Limits, Network

_REASONS = {
    400: b"Bad Request",
    408: b"Request Timeout",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}


_RETRY = b"retry-after: 1\r\n"
_FULL = "too many connections to this server process; retry shortly"
# Past the connection cap, a few more connections are kept for health checks only.
_HEALTH_PATHS = (b"/healthz", b"/readyz")
_HEALTH_ONLY_SECONDS = 1.0  # float-ok: seconds a health-only connection may take to ask
# Connections open per client address in this process (one event loop: no lock needed).
_open_from: Counter[str] = Counter()


def _reserve(limits: Limits) -> int:
    """How many health-check connections are kept past the cap: 5% of it, at least 10."""
    return max(10, limits.max_connections // 20)


def _trusted(peer: str, networks: tuple[Network, ...]) -> bool:
    # A trusted proxy carries many clients on its connections: it has no per-address share.
    if not networks or not peer:
        return False
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in network for network in networks)


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing; httptools re-raises it wrapped."""


@functools.cache
def limits() -> Limits:
    # Read once per process from the environment `grantledger serve` set for every worker.
    return Limits.from_env()


def _answer(status: int, message: str, *extra: bytes) -> bytes:
    body = orjson.dumps({"message": message})
    head = [
        b"HTTP/1.1 %d %s\r\n" % (status, _REASONS[status]),
        b"content-type: application/json\r\n",
        b"content-length: %d\r\n" % len(body),
        b"connection: close\r\n",
        *extra,
        b"\r\n",
    ]
    return b"".join(head) + body


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """httptools with header bounds, header/body/idle timeouts, a connection cap with a share
    per client address, a first-request timeout, and health checks answered past the cap."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limits = limits()
        # uvicorn's own keep-alive timer takes whole seconds from its config; use ours.
        self.timeout_keep_alive = self._limits.idle_timeout  # type: ignore[assignment]
        self._in_headers = True
        self._header_bytes = 0
        self._head_bytes = 0  # the request line and headers parsed so far, of this request
        self._header_count = 0
        self._boundaries = 0  # header blocks and messages completed on this connection
        self._refusal: tuple[int, str] | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._peer: str | None = None  # counted in `_open_from` while open
        self._health_only = False  # past the connection cap: a health check, then closed

    # --- connection -----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        limits = self._limits
        peer = self.client[0] if self.client else ""
        if not _trusted(peer, limits.trusted_proxies):
            self._peer = peer
            _open_from[peer] += 1
            if _open_from[peer] > limits.max_connections_per_address:
                # One address gets a bounded share of the cap, so one client cannot take it all.
                self._refuse(503, "too many connections from this address", _RETRY)
                return
        first_request = limits.first_request_timeout
        if len(self.connections) > limits.max_connections:
            if len(self.connections) > limits.max_connections + _reserve(limits):
                # Answered before any request is read: the client sees it as its response.
                self._refuse(503, _FULL, _RETRY)
                return
            # Past the cap, a connection is kept only for a health check, asked at once: an
            # orchestrator probing a busy process must not restart it for being busy.
            self._health_only = True
            first_request = min(first_request, _HEALTH_ONLY_SECONDS)
        # A connection that has not begun a request within this is closed: a silent socket holds
        # a slot for seconds, not for the keep-alive timeout.
        self.timeout_keep_alive_task = self.loop.call_later(
            first_request, self.timeout_keep_alive_handler
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        if self._peer is not None:
            _open_from[self._peer] -= 1
            if _open_from[self._peer] <= 0:
                del _open_from[self._peer]
            self._peer = None
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._health_only and not self.transport.is_closing():
            self.transport.close()  # its one health check is answered; the slot goes back

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        was_in_headers, boundaries = self._in_headers, self._boundaries
        super().data_received(data)
        # Header bytes are those of a chunk that began and ended inside one header block. A
        # chunk that completed a request (its headers, or the end of its body) leaves the parser
        # "in headers" of the next one, yet none of it is held as headers.
        if was_in_headers and self._in_headers and boundaries == self._boundaries:
            if self.transport.is_closing():
                return
            # Still no end of headers: everything so far is header bytes held in memory.
            self._header_bytes += len(data)
            if self._header_bytes > self._limits.max_header_bytes:
                self._refuse(431, f"request headers exceed {self._limits.max_header_bytes} bytes")

    def send_400_response(self, msg: str) -> None:
        # httptools reports a refusal raised from a callback as a parse error; say which.
        if self._refusal is not None:
            self._refuse(*self._refusal)
            return
        self._cancel_deadline()
        self.transport.write(_answer(400, msg))
        self.transport.close()

    # --- parser callbacks -----------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_headers = True
        self._header_count = 0
        self._head_bytes = 0
        self._arm(self._limits.header_timeout, self._headers_too_slow)

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self._limits.max_headers:
            self._refusal = (431, f"a request may carry at most {self._limits.max_headers} headers")
            raise _Refused
        self._count_head(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def _count_head(self, size: int) -> None:
        # Per request, as parsed: a head that arrives in one read (which the count in
        # data_received cannot see, the chunk ending the headers too) is bounded the same.
        self._head_bytes += size
        if self._head_bytes > self._limits.max_header_bytes:
            self._refusal = (431, f"request headers exceed {self._limits.max_header_bytes} bytes")
            raise _Refused

    def on_headers_complete(self) -> None:
        self._boundaries += 1
        self._in_headers = False
        self._header_bytes = 0
        if self._health_only and not self._is_health_check():
            self._refusal = (503, _FULL)
            raise _Refused
        self._arm(self._limits.body_timeout, self._body_too_slow)
        if self.url.startswith(b"//"):
            # Parsed as is, `//credits` would be host `credits` and path `/`; a client given
            # Togai's host with its trailing `/` sends exactly that (api/paths.py does the rest).
            self.url = b"/" + self.url.lstrip(b"/")
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._boundaries += 1
        self._cancel_deadline()
        self._in_headers = True
        super().on_message_complete()

    def _is_health_check(self) -> bool:
        path = httptools.parse_url(self.url).path
        return self.parser.get_method() in (b"GET", b"HEAD") and path in _HEALTH_PATHS

    # --- timers ---------------------------------------------------------------------------
    def _arm(self, seconds: float, callback: Any) -> None:  # float-ok: seconds
        self._cancel_deadline()
        self._deadline = self.loop.call_later(seconds, callback)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _headers_too_slow(self) -> None:
        self._deadline = None
        self._refuse(408, f"request headers not received within {self._limits.header_timeout:g} s")

    def _body_too_slow(self) -> None:
        self._deadline = None
        cycle = self.cycle
        if cycle is not None and cycle.response_started:
            # The application answered already (e.g. 401 before reading); just hang up.
            self.transport.close()
            return
        self._refuse(408, f"request body not received within {self._limits.body_timeout:g} s")
        if cycle is not None:
            # The application waiting on the body sees the client gone and sends nothing.
            cycle.disconnected = True
            cycle.message_event.set()

    def _refuse(self, status: int, message: str, *extra: bytes) -> None:
        self._cancel_deadline()
        self._unset_keepalive_if_required()
        if not self.transport.is_closing():
            self.transport.write(_answer(status, message, *extra))
            self.transport.close()
