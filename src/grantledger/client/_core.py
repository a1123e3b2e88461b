"""What sync and async share: a request as data (`Call`), its answer's handling, the retry rule.

An API method only builds a `Call`; `ApiClient.call` / `AsyncApiClient.call` send it. So the
sync and async APIs differ in nothing but `await`.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Generic, Protocol, TypeVar, cast
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from grantledger.client._json import dumps, format_datetime, loads
from grantledger.client.configuration import Configuration
from grantledger.client.exceptions import (
    ApiConnectionException,
    ApiException,
    ApiTimeoutException,
    exception_for,
)

__all__ = [
    "Call",
    "Paged",
    "RetryPolicy",
    "body_of",
    "coerce",
    "finish",
    "headers_of",
    "path",
    "query",
    "transport_error",
    "url_of",
]

# Covariant so that a `Call[ListCreditsResponse]` is also a `Call[Paged[Credit]]` (see pager).
T = TypeVar("T", covariant=True)
R = TypeVar("R")
M = TypeVar("M", bound=BaseModel)
I_co = TypeVar("I_co", covariant=True)


Seconds = float  # float-ok: a duration in seconds, never money


@dataclass(frozen=True)
class Call(Generic[T]):
    """One operation, ready to send: method, encoded path, query, JSON body, answer model."""

    method: str
    path: str
    response_type: type[T]  # always an ApiModel subclass
    query: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    # Operations with a body parameter send `Content-Type: application/json` even without one.
    json_body: bool = False
    # True when sending it twice cannot do more than sending it once (see RetryPolicy).
    idempotent: bool = False


class Paged(Protocol[I_co]):
    """A page of a list: its items and the token of the next page (None on the last)."""

    @property
    def data(self) -> Sequence[I_co]: ...

    @property
    def next_token(self) -> str | None: ...


def path(template: str, **params: object) -> str:
    """Fill a path template; every value is percent-encoded (`#` → %23, `$` → %24, `/` → %2F)."""
    return template.format(**{k: quote(str(v), safe="") for k, v in params.items()})


def _query_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def query(**params: object) -> dict[str, str]:
    """Query parameters in the given order, without the ones that are None."""
    return {k: _query_value(v) for k, v in params.items() if v is not None}


def coerce(model: type[M], value: M | Mapping[str, Any] | None) -> M | None:
    """A request body given as a model or as a dict (camelCase or snake_case keys)."""
    if value is None or isinstance(value, model):
        return value
    if isinstance(value, BaseModel):
        return model.model_validate(value.model_dump(by_alias=True, exclude_none=True))
    if isinstance(value, Mapping):
        return model.model_validate(dict(value))
    raise TypeError(f"expected {model.__name__} or a dict, got {type(value).__name__}")


def body_of(model: BaseModel | None) -> str | None:
    """The JSON text of a request body: aliases, optional fields left out, exact amounts."""
    if model is None:
        return None
    return dumps(model.model_dump(by_alias=True, exclude_none=True))


def finish(
    call: Call[R], status: int, reason: str | None, headers: httpx.Headers, body: bytes
) -> R:
    """The answer's model for a 2xx, else the matching `ApiException`."""
    if 200 <= status < 300:
        model = cast(type[BaseModel], call.response_type)
        return cast(R, model.model_validate(loads(body) if body else {}))
    raise exception_for(status, reason, headers, body)


def transport_error(exc: httpx.TransportError, call: Call[Any]) -> ApiException:
    where = f"{call.method} {call.path}"
    if isinstance(exc, httpx.TimeoutException):
        error: ApiException = ApiTimeoutException(reason=f"timed out: {where}: {exc!r}")
    else:
        error = ApiConnectionException(reason=f"connection failed: {where}: {exc!r}")
    return error


def _retry_after_seconds(value: str | None, now: Seconds) -> Seconds | None:
    """`Retry-After` as seconds: either delta-seconds or an HTTP date."""
    if value is None:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))  # float-ok: seconds
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


class RetryPolicy:
    """When to try again, and after how long.

    Only calls marked idempotent are retried after an answer (429/503 by default) or after a
    connection that broke mid-request; a connection that never opened is retried for every
    call, since nothing was sent.
    """

    def __init__(self, configuration: Configuration) -> None:
        self.config = configuration

    def _backoff(self, attempt: int) -> Seconds:
        ceiling = min(self.config.max_backoff, self.config.backoff_factor * 2.0**attempt)
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def after_answer(
        self, call: Call[Any], attempt: int, response: httpx.Response
    ) -> Seconds | None:
        """Seconds to wait before retrying this answer, or None to keep it."""
        if response.status_code not in self.config.retry_statuses:
            return None
        if not call.idempotent or attempt >= self.config.retries:
            return None
        told = _retry_after_seconds(response.headers.get("retry-after"), time.time())
        if told is None:
            return self._backoff(attempt)
        if told > self.config.max_retry_after:
            return None
        return told

    def after_error(
        self, call: Call[Any], attempt: int, exc: httpx.TransportError
    ) -> Seconds | None:
        """Seconds to wait before retrying after a transport failure, or None to raise it."""
        if attempt >= self.config.retries:
            return None
        never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
        if never_sent or call.idempotent:
            return self._backoff(attempt)
        return None


def url_of(configuration: Configuration, call: Call[Any]) -> str:
    return configuration.host + call.path


def headers_of(call: Call[Any]) -> dict[str, str]:
    return {"Content-Type": "application/json"} if call.json_body else {}
