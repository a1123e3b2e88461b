"""JSON in and out without floats: request numbers parse to Decimal, Decimals print exactly."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from grantledger.api.wire import unknown_query
from grantledger.domain.money import canonical, round_fraction
from grantledger.domain.passthrough import JsonObject


def _refuse_constant(name: str) -> Any:
    # A JSONDecodeError (not a bare ValueError) so the API answers "not valid JSON" like any
    # other malformed body, instead of the framework's generic parse failure.
    raise json.JSONDecodeError(f"{name} is not a valid JSON number", name, 0)


# NUL cannot be stored in PostgreSQL text and a lone surrogate cannot be encoded as UTF-8:
# either would fail deep in the database or the encoder, so both are refused on arrival.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _check_text(value: Any) -> None:
    if isinstance(value, str):
        if _UNSTORABLE.search(value):
            raise json.JSONDecodeError(
                "strings must not contain NUL (\\u0000) or unpaired surrogate characters",
                value,
                0,
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_text(item)
    elif isinstance(value, list):
        for item in value:
            _check_text(item)


def _number(text: str) -> Decimal:
    # A number with more than 10 fractional digits (a client's float arithmetic) is stored
    # rounded half-even to 10: docs/api.md, "Amounts".
    return round_fraction(Decimal(text))


class BadBody(HTTPException):
    """A request that arrives whole but cannot be one of this API: a body that parses into
    nothing valid, a query parameter the route does not take (400, with what to fix)."""

    def __init__(self, message: str) -> None:
        super().__init__(400, message)


def _unique_keys(pairs: list[tuple[str, Any]]) -> JsonObject:
    # Last-wins would let `{"creditAmount": 1, "creditAmount": 1000000}` mean one thing to a
    # proxy or log reader and another to the ledger: a duplicate is refused, not resolved.
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise BadBody(f"request body has the key {key!r} twice in one object")
            seen.add(key)
    return obj


def loads(body: bytes) -> Any:
    try:
        value = json.loads(
            body,
            parse_float=_number,
            parse_constant=_refuse_constant,
            object_pairs_hook=_unique_keys,
        )
        _check_text(value)
    except RecursionError as exc:
        raise BadBody("request body is nested too deeply") from exc
    return value


# Far above any valid request (a 50-credit batch or a 10-attribute event is a few KiB); a larger
# body is refused before it is read whole, so it cannot be buffered, parsed or stored.
MAX_BODY_BYTES = 1 << 20


def _too_large() -> HTTPException:
    return HTTPException(413, f"request body is larger than {MAX_BODY_BYTES // 1024} KiB")


class DecimalRequest(Request):
    async def body(self) -> bytes:
        if not hasattr(self, "_body"):
            declared = self.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
                raise _too_large()
            chunks: list[bytes] = []
            size = 0
            async for chunk in self.stream():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise _too_large()
                chunks.append(chunk)
            self._body = b"".join(chunks)
        return self._body

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            value = loads(await self.body())
            # Every request body of this API is an object. FastAPI validates body models from
            # attributes too, so a bare number such as `1.5` (a Decimal) would otherwise pass
            # as `{}` on an endpoint whose fields are all optional.
            if not isinstance(value, dict):
                raise BadBody(f"request body must be a JSON object, not {_kind(value)}")
            self._json = value
        return self._json


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


def declared_query(dependant: Dependant) -> tuple[str, ...]:
    """The query parameters a route declares, its dependencies' included (paging's
    `nextToken` and `pageSize`), by their wire names, in declaration order."""
    names: dict[str, None] = {}
    pending = [dependant]
    while pending:
        current = pending.pop(0)
        names.update((field.alias, None) for field in current.query_params)
        pending.extend(current.dependencies)
    return tuple(names)


class KnownQueryRoute(APIRoute):
    """Routes that refuse a query parameter they do not declare (400 naming it): a misspelt
    filter (`accountId` for `account_id`) would otherwise be ignored, and `GET /credits`
    answer every credit of the organization instead of one account's."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        accepted = declared_query(self.dependant)
        where = f"{'/'.join(sorted(self.methods or ()))} {self.path}"

        async def route(request: Request) -> Response:
            problem = unknown_query(request.query_params.keys(), accepted, where)
            if problem is not None:
                raise BadBody(problem)
            return await handler(request)

        return route


class WireRoute(KnownQueryRoute):
    """API routes: declared query parameters only, JSON bodies parsed with Decimal numbers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            return await handler(DecimalRequest(request.scope, request.receive))

        return route


def _default(value: object) -> Any:
    if isinstance(value, Decimal):
        return orjson.Fragment(canonical(value))
    raise TypeError(f"cannot encode {type(value).__name__}")


def dumps(content: Any, *, sort_keys: bool = False) -> bytes:
    option = orjson.OPT_UTC_Z | (orjson.OPT_SORT_KEYS if sort_keys else 0)
    try:
        return orjson.dumps(content, default=_default, option=option)
    except orjson.JSONEncodeError:
        # orjson encodes integers of at most 64 bits; JSON has no such bound, and fields a
        # caller sent (passed through as received) may hold wider ones: written exactly.
        return orjson.dumps(_wide_ints(content), default=_default, option=option)


def _wide_ints(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and not _I64 <= value < _U64:
        return orjson.Fragment(str(value))
    if isinstance(value, dict):
        return {k: _wide_ints(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_wide_ints(v) for v in value]
    return value


_I64, _U64 = -(2**63), 2**64


class WireJSONResponse(JSONResponse):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)
