"""One API class per resource, usable over an `ApiClient` or an `AsyncApiClient`.

Each operation is written once, as a function that builds a `Call`. `operation` and `pager`
turn those functions into methods: over an `ApiClient` they send the call and return the
answer; over an `AsyncApiClient` they return an awaitable (and `iter_*` an async iterator).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any, Concatenate, Generic, ParamSpec, Self, TypeVar, overload

from grantledger.client._core import Call, Paged
from grantledger.client.api_client import ApiClient, AsyncApiClient

__all__ = ["Api", "Body", "operation", "pager"]


class _Method:
    """Names the functions that `operation`/`pager` hand out after the attribute they sit on,
    with the builder's parameters and documentation, for `help()` and tracebacks."""

    build: Callable[..., Any]
    name = ""
    owner = ""

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self.name = name
        self.owner = owner.__qualname__

    def _named(self, method: Callable[..., Any], skip_first: bool = False) -> Any:
        functools.update_wrapper(method, self.build)
        method.__name__ = self.name
        method.__qualname__ = f"{self.owner}.{self.name}"
        signature = inspect.signature(self.build)
        parameters = list(signature.parameters.values())[1 if skip_first else 0 :]
        method.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=parameters, return_annotation=inspect.Signature.empty
        )
        del method.__wrapped__  # type: ignore[attr-defined]
        return method


# A request body may be given as its model or as a plain dict (camelCase or snake_case keys).
Body = Mapping[str, Any]

C = TypeVar("C", ApiClient, AsyncApiClient)
P = ParamSpec("P")
R = TypeVar("R")
I = TypeVar("I")  # noqa: E741 - the item type of a page


class Api(Generic[C]):
    """Base of the API classes: `CreditsApi(api_client)` with either kind of client."""

    def __init__(self, api_client: C) -> None:
        self.api_client: C = api_client


class operation(_Method, Generic[P, R]):
    """A method that sends the `Call` its builder makes, with the builder's signature."""

    def __init__(self, build: Callable[P, Call[R]]) -> None:
        self.build = build

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Self: ...

    @overload
    def __get__(self, obj: Api[ApiClient], owner: type[Any]) -> Callable[P, R]: ...

    @overload
    def __get__(self, obj: Api[AsyncApiClient], owner: type[Any]) -> Callable[P, Awaitable[R]]: ...

    def __get__(self, obj: Api[Any] | None, owner: type[Any]) -> Any:
        if obj is None:
            return self
        client = obj.api_client
        build = self.build
        if isinstance(client, AsyncApiClient):

            async def send_async(*args: P.args, **kwargs: P.kwargs) -> R:
                return await client.call(build(*args, **kwargs))

            return self._named(send_async)

        def send(*args: P.args, **kwargs: P.kwargs) -> R:
            return client.call(build(*args, **kwargs))  # type: ignore[no-any-return]

        return self._named(send)


class pager(_Method, Generic[P, I]):
    """An `iter_*` method: every item of a list, fetching page after page as you iterate.

    Its builder takes the page token first, then the list's filters.
    """

    def __init__(self, build: Callable[Concatenate[str | None, P], Call[Paged[I]]]) -> None:
        self.build = build

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Self: ...

    @overload
    def __get__(self, obj: Api[ApiClient], owner: type[Any]) -> Callable[P, Iterator[I]]: ...

    @overload
    def __get__(
        self, obj: Api[AsyncApiClient], owner: type[Any]
    ) -> Callable[P, AsyncIterator[I]]: ...

    def __get__(self, obj: Api[Any] | None, owner: type[Any]) -> Any:
        if obj is None:
            return self
        client = obj.api_client
        build = self.build
        if isinstance(client, AsyncApiClient):

            async def items_async(*args: P.args, **kwargs: P.kwargs) -> AsyncIterator[I]:
                async for page in client.pages(lambda token: build(token, *args, **kwargs)):
                    for item in page.data:
                        yield item

            return self._named(items_async, skip_first=True)

        def items(*args: P.args, **kwargs: P.kwargs) -> Iterator[I]:
            for page in client.pages(lambda token: build(token, *args, **kwargs)):
                yield from page.data

        return self._named(items, skip_first=True)
