"""One webhook attempt over HTTP: a total deadline, and only a bounded prefix of the answer.

A receiver decides how much it answers and how slowly: read whole, a 1 GiB answer took a worker
from 117 MB to 3.35 GB; timed per read, one byte every few seconds held an attempt for minutes.
So an attempt has one deadline for everything (resolving, connecting, sending, the answer's
head), only the status is kept, at most RESPONSE_PREFIX bytes of the body are read (and
dropped), and the connection is then closed. No redirect is followed (a 3xx could point at a
private address), no proxy from the environment is used (it would resolve names itself), and
no connection is kept alive (an attempt on a socket the receiver closed while idle would fail
without reaching it).
"""

from __future__ import annotations

import asyncio

import httpcore

from grantledger.service.notifications.destinations import (
    PinnedNetwork,
    Resolve,
    system_resolve,
    tls_context,
)

RESPONSE_PREFIX = 1024  # bytes of a response body read before hanging up
USER_AGENT = "grantledger-webhooks/1"


class Sender:
    def __init__(self, allow_private: bool, connections: int, resolve: Resolve | None = None):
        self.pool = httpcore.AsyncConnectionPool(
            ssl_context=tls_context(),
            max_connections=connections,
            max_keepalive_connections=0,
            network_backend=PinnedNetwork(resolve or system_resolve, allow_private),
        )

    async def post(
        self,
        url: str,
        headers: dict[str, str],
        body: bytes,
        deadline: float,  # float-ok
    ) -> int:
        """POST `body` to `url`, done by `deadline` (the event loop's clock); the status code.
        Raises TimeoutError past the deadline, httpcore's errors for a broken exchange, and
        RefusedDestination for a private address."""
        sent = [(b"user-agent", USER_AGENT.encode()), (b"content-length", b"%d" % len(body))]
        sent += [(name.encode(), value.encode()) for name, value in headers.items()]
        async with (
            asyncio.timeout_at(deadline),
            self.pool.stream("POST", url, headers=sent, content=body) as response,
        ):
            read = 0
            async for chunk in response.aiter_stream():
                read += len(chunk)
                if read >= RESPONSE_PREFIX:
                    break  # the rest is never read: closing drops the connection
            return response.status

    async def close(self) -> None:
        await self.pool.aclose()
