"""Where a webhook goes: its name resolved once, every address checked, and exactly a checked
address connected to.

Checking a name and then letting an HTTP client resolve it again is DNS rebinding waiting to
happen: a name whose answers alternate between a public address and 127.0.0.1 passes the check
and reaches a local service. Here the connection itself resolves the name, refuses it if any of
its addresses is private (domain/webhooks.refused_address), and connects to one of those same
addresses; TLS still verifies the certificate against the name. The resolver is a parameter, so
a test can answer for a name itself.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import typing
from collections.abc import Awaitable, Callable

import certifi
import httpcore

from grantledger.domain import webhooks as rules

Resolve = Callable[[str, int], Awaitable[list[str]]]


class RefusedDestination(Exception):
    """The destination resolves to an address webhooks must not reach."""


async def system_resolve(host: str, port: int) -> list[str]:
    """The addresses the system's resolver gives for `host`, in its order, each once."""
    found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for *_, sockaddr in found:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


async def checked_addresses(
    host: str, port: int, resolve: Resolve, allow_private: bool
) -> list[str]:
    """`host`'s addresses, once; RefusedDestination if any of them is private (unless allowed)."""
    addresses = await resolve(host, port)
    if not allow_private:
        for address in addresses:
            why = rules.refused_address(address)
            if why is not None:
                raise RefusedDestination(f"{host} resolves to {why}")
    return addresses


class PinnedNetwork(httpcore.AsyncNetworkBackend):
    """httpcore's network, connecting only to addresses checked in the same breath."""

    def __init__(self, resolve: Resolve, allow_private: bool) -> None:
        self.resolve = resolve
        self.allow_private = allow_private
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # float-ok: seconds
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await checked_addresses(host, port, self.resolve, self.allow_private)
        except OSError as error:
            raise httpcore.ConnectError(f"{host} does not resolve: {error}") from error
        failure: Exception = httpcore.ConnectError(f"{host} has no address")
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # float-ok: seconds
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks are sent over TCP only")

    async def sleep(self, seconds: float) -> None:  # float-ok: seconds
        await self.inner.sleep(seconds)


def tls_context() -> ssl.SSLContext:
    """Certificates checked against the public roots httpx uses (certifi), by the URL's name."""
    return ssl.create_default_context(cafile=certifi.where())
