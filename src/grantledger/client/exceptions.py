"""Errors raised by the client, mirroring the Togai client's `ApiException` family."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from grantledger.client._json import loads

__all__ = [
    "ApiConnectionException",
    "ApiException",
    "ApiTimeoutException",
    "BadRequestException",
    "ConflictException",
    "ErrorResponse",
    "ForbiddenException",
    "NotFoundException",
    "OpenApiException",
    "ServiceException",
    "TooManyRequestsException",
    "UnauthorizedException",
    "UnprocessableEntityException",
    "exception_for",
]


class ErrorResponse(BaseModel):
    """The body of every error: `{"message": "<what went wrong>"}`."""

    model_config = ConfigDict(extra="ignore")

    message: str


class OpenApiException(Exception):
    """Base class of every exception this client raises."""


class ApiException(OpenApiException):
    """An HTTP error answer (or, with status 0, no answer at all).

    - `status`: the HTTP status code (0 when the server could not be reached)
    - `reason`: the HTTP reason phrase (`Not Found`) or what went wrong on the way
    - `body`: the response body as text
    - `data`: the parsed `ErrorResponse` (`.message`), or None when the body is not one
    - `headers`: the response headers (a case-insensitive mapping), or None
    """

    def __init__(
        self,
        status: int | None = None,
        reason: str | None = None,
        http_resp: Any = None,
        *,
        body: str | None = None,
        data: ErrorResponse | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status: int = status if status is not None else 0
        self.reason: str | None = reason
        self.body: str | None = body
        self.data: ErrorResponse | None = data
        self.headers: Mapping[str, str] | None = headers
        super().__init__(self.status, reason)

    @property
    def message(self) -> str | None:
        """The server's sentence (`data.message`), when there is one."""
        return self.data.message if self.data is not None else None

    @property
    def retry_after(self) -> str | None:
        """The `Retry-After` header of a 429/503, as sent."""
        if self.headers is None:
            return None
        return self.headers.get("retry-after")

    def __str__(self) -> str:
        text = f"({self.status})\nReason: {self.reason}\n"
        if self.headers:
            text += f"HTTP response headers: {dict(self.headers)}\n"
        if self.body:
            text += f"HTTP response body: {self.body}\n"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, message={self.message!r})"


class BadRequestException(ApiException):
    """400: the request is invalid; `message` names the field."""


class UnauthorizedException(ApiException):
    """401: missing or unknown API key."""


class ForbiddenException(ApiException):
    """403: refused, e.g. an event the account is not entitled to."""


class NotFoundException(ApiException):
    """404: no such resource in this organization."""


class ConflictException(ApiException):
    """409: duplicate id, idempotency key reused with another payload, state conflict."""


class UnprocessableEntityException(ApiException):
    """422: the server understood the request but cannot process it."""


class TooManyRequestsException(ApiException):
    """429: throttled; `retry_after` says when to come back (retries are automatic)."""


class ServiceException(ApiException):
    """5xx: the server failed."""


class ApiConnectionException(ApiException):
    """The server could not be reached or the connection broke (`status` 0)."""


class ApiTimeoutException(ApiConnectionException):
    """No answer within the configured timeout (`status` 0)."""


_BY_STATUS: dict[int, type[ApiException]] = {
    400: BadRequestException,
    401: UnauthorizedException,
    403: ForbiddenException,
    404: NotFoundException,
    409: ConflictException,
    422: UnprocessableEntityException,
    429: TooManyRequestsException,
}


def _reason(status: int, reason: str | None) -> str:
    if reason:
        return reason
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def exception_for(
    status: int, reason: str | None, headers: Mapping[str, str] | None, body: bytes
) -> ApiException:
    """The exception for an error answer, with its `{message}` parsed when it is one."""
    text = body.decode("utf-8", errors="replace")
    data: ErrorResponse | None = None
    try:
        data = ErrorResponse.model_validate(loads(text))
    except (ValueError, ValidationError):
        data = None
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = ServiceException if 500 <= status <= 599 else ApiException
    return cls(status=status, reason=_reason(status, reason), body=text, data=data, headers=headers)
