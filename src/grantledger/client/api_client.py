"""The HTTP side: `ApiClient` (over httpx.Client) and `AsyncApiClient` (over httpx.AsyncClient).

Both send the same `Call`s with the same retry rule; they differ only in `await`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from grantledger.client._core import (
    Call,
    Paged,
    RetryPolicy,
    finish,
    headers_of,
    transport_error,
    url_of,
)
from grantledger.client.configuration import Configuration

__all__ = ["ApiClient", "AsyncApiClient"]

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 - the item type of a page


class _Base:
    def __init__(self, configuration: Configuration | None) -> None:
        self.configuration = configuration if configuration is not None else Configuration()
        self.retry_policy = RetryPolicy(self.configuration)

    def _client_options(self) -> dict[str, Any]:
        return {
            "headers": self.configuration.default_headers(),
            "timeout": self.configuration.httpx_timeout(),
            "verify": self.configuration.verify,
        }

    def _request(self, http: httpx.Client | httpx.AsyncClient, call: Call[Any]) -> httpx.Request:
        return http.build_request(
            call.method,
            url_of(self.configuration, call),
            params=call.query or None,
            content=call.body.encode() if call.body is not None else None,
            headers=headers_of(call),
        )

    def _delay(
        self, call: Call[Any], attempt: int, outcome: httpx.Response | httpx.TransportError
    ) -> float | None:  # float-ok: seconds
        """Seconds to wait before the next attempt, or None when this outcome is final."""
        if isinstance(outcome, httpx.Response):
            return self.retry_policy.after_answer(call, attempt, outcome)
        delay = self.retry_policy.after_error(call, attempt, outcome)
        if delay is None:
            raise transport_error(outcome, call) from outcome
        return delay


def _finish(call: Call[T], response: httpx.Response) -> T:
    return finish(
        call, response.status_code, response.reason_phrase, response.headers, response.content
    )


def _next_token(page: Paged[Any], previous: str | None) -> str | None:
    token = page.next_token
    # A server handing back the token it was given would loop forever: stop instead.
    return token if token and token != previous else None


class ApiClient(_Base):
    """Sends the operations of the API classes. Use it as a context manager, or `close()` it.

    ```python
    with ApiClient(Configuration(host=..., access_token=...)) as api_client:
        credits = CreditsApi(api_client)
    ```
    `http_client` lets you bring your own `httpx.Client` (proxies, transports, event hooks);
    it is closed with the ApiClient.
    """

    def __init__(
        self, configuration: Configuration | None = None, *, http_client: httpx.Client | None = None
    ) -> None:
        super().__init__(configuration)
        self.http_client = http_client or httpx.Client(**self._client_options())
        if http_client is not None:
            http_client.headers.update(self.configuration.default_headers())

    def call(self, call: Call[T]) -> T:
        """Send one operation (again, when that is safe and useful) and parse its answer."""
        request = self._request(self.http_client, call)
        attempt = 0
        while True:
            try:
                outcome: httpx.Response | httpx.TransportError = self.http_client.send(request)
            except httpx.TransportError as exc:
                outcome = exc
            delay = self._delay(call, attempt, outcome)
            if delay is None and isinstance(outcome, httpx.Response):
                return _finish(call, outcome)
            if isinstance(outcome, httpx.Response):
                outcome.close()
            time.sleep(delay or 0.0)
            attempt += 1

    def pages(self, page: Callable[[str | None], Call[Paged[I]]]) -> Iterator[Paged[I]]:
        """Every page of a list, following `nextToken` until the server gives none."""
        token: str | None = None
        while True:
            current = self.call(page(token))
            yield current
            token = _next_token(current, token)
            if token is None:
                return

    def close(self) -> None:
        self.http_client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncApiClient(_Base):
    """The asyncio twin of `ApiClient`: `async with AsyncApiClient(configuration) as c: ...`.

    The same API classes work over it; their methods then return awaitables and their
    `iter_*` methods async iterators.
    """

    def __init__(
        self,
        configuration: Configuration | None = None,
        *,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(configuration)
        self.http_client = http_client or httpx.AsyncClient(**self._client_options())
        if http_client is not None:
            http_client.headers.update(self.configuration.default_headers())

    async def call(self, call: Call[T]) -> T:
        """Send one operation (again, when that is safe and useful) and parse its answer."""
        request = self._request(self.http_client, call)
        attempt = 0
        while True:
            try:
                outcome: httpx.Response | httpx.TransportError = await self.http_client.send(
                    request
                )
            except httpx.TransportError as exc:
                outcome = exc
            delay = self._delay(call, attempt, outcome)
            if delay is None and isinstance(outcome, httpx.Response):
                return _finish(call, outcome)
            if isinstance(outcome, httpx.Response):
                await outcome.aclose()
            await asyncio.sleep(delay or 0.0)
            attempt += 1

    async def pages(self, page: Callable[[str | None], Call[Paged[I]]]) -> AsyncIterator[Paged[I]]:
        """Every page of a list, following `nextToken` until the server gives none."""
        token: str | None = None
        while True:
            current = await self.call(page(token))
            yield current
            token = _next_token(current, token)
            if token is None:
                return

    async def close(self) -> None:
        await self.http_client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
