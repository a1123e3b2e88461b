"""Every failure leaves as `{"message": ...}` with its status; no stack trace leaves the process."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from grantledger.api.jsonio import WireJSONResponse
from grantledger.domain.errors import LedgerError

log = logging.getLogger("grantledger.api")
MAX_MESSAGE = 500


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> WireJSONResponse:
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 1] + "…"
    return WireJSONResponse({"message": message}, status_code=status, headers=headers)


def ledger_error_response(exc: LedgerError) -> WireJSONResponse:
    """A domain or store error as the caller gets it: its status and message, and when to
    retry if it says."""
    retry = exc.retry_after_seconds
    headers = {"Retry-After": str(retry)} if retry is not None else None
    return error_response(exc.status, exc.message, headers)


def internal_error(method: str, path: str, request_id: str) -> WireJSONResponse:
    """Log the current exception with its trace; the caller gets only the request id."""
    log.exception(
        "unhandled error on %s %s (request %s)",
        method,
        path,
        request_id,
        extra={"request_id": request_id},
    )
    return error_response(500, f"internal error; quote request id {request_id} when reporting it")


def _where(loc: Sequence[Any]) -> str:
    parts = [p for p in loc if p not in ("body", "query", "path", "header")]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def describe_validation(errors: Sequence[Any]) -> str:
    """One sentence naming the first offending field and what to fix."""
    # An unknown field usually explains the rest (`credit_amount` sent for `creditAmount`
    # also makes `creditAmount` missing), so it is named first.
    first = next((e for e in errors if e.get("type") == "extra_forbidden"), errors[0])
    kind = first.get("type", "")
    where = _where(first.get("loc", ()))
    source = first.get("loc", ("body",))[0] if first.get("loc") else "body"
    if kind == "json_invalid":
        # The parser's reason ("NaN is not a valid JSON number", "Expecting ',' delimiter")
        # is what the caller needs to find the mistake.
        reason = (first.get("ctx") or {}).get("error")
        if reason:
            return f"request body is not valid JSON: {reason}"
        return "request body is not valid JSON"
    if kind == "extra_forbidden":
        return f"unknown field '{where}' in the request {source}"
    if kind == "missing":
        if not where:
            return "request body is required"
        return f"{where} is required"
    message = str(first.get("msg", "is invalid")).removeprefix("Value error, ")
    if kind.endswith("_type") and "valid" in message:
        message = message.replace("Input should be", "must be")
    else:
        message = message.replace("Input should", "must").replace("String should", "must")
        message = message.replace("List should", "must").replace("Dictionary should", "must")
    extra = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return f"{where or source}: {message}{extra}"


def install(app: FastAPI) -> None:
    @app.exception_handler(LedgerError)
    async def ledger_error(_: Request, exc: LedgerError) -> WireJSONResponse:
        return ledger_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> WireJSONResponse:
        return error_response(400, describe_validation(exc.errors()))

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> WireJSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404 and detail == "Not Found":
            detail = "no such endpoint"
        return error_response(exc.status_code, detail, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> WireJSONResponse:
        # Normally RequestContext answers first; this is the last line of defence.
        request_id = getattr(request.state, "request_id", None) or "-"
        response = internal_error(request.method, request.url.path, request_id)
        # This response is built outside the request-id middleware.
        response.headers["x-request-id"] = request_id
        return response
