"""The console's door: session cookie, same-origin check, CSRF tokens, and form bodies.

Every state-changing request is a POST that must come from the console's own origin (the
`Origin` header, or `Referer` when a browser leaves it out) and carry the session's CSRF
token. Either check failing answers 403 before anything is read or written.
"""

from __future__ import annotations

import hmac
import re
import secrets
from urllib.parse import parse_qsl, urlsplit

from fastapi import Request, Response

from grantledger.service.console.console_sessions import SESSION_TTL, current
from grantledger.service.context import Context
from grantledger.store.console.console_sessions import SessionRecord as Session

COOKIE = "gl_console"
# Before sign-in there is no session: the sign-in form's token is a double-submit cookie.
SIGNIN_COOKIE = "gl_console_signin"
MAX_FORM_BYTES = 64 * 1024
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class Refused(Exception):
    """A console request refused before it did anything; rendered as an HTML error page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/console",
        httponly=True,
        samesite="strict",
        secure=_is_https(request),
    )


def clear_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(
        name, path="/console", httponly=True, samesite="strict", secure=_is_https(request)
    )


def start_session(request: Request, response: Response, token: str) -> None:
    set_cookie(request, response, COOKIE, token, int(SESSION_TTL.total_seconds()))


def signin_token(request: Request) -> str:
    """The sign-in form's CSRF token: the one in its cookie, or a new one to set."""
    existing = request.cookies.get(SIGNIN_COOKIE, "")
    return existing if len(existing) >= 32 else secrets.token_urlsafe(32)


async def session_of(request: Request) -> Session | None:
    token = request.cookies.get(COOKIE)
    if not token or len(token) > 200:
        return None
    ctx: Context = request.app.state.ctx
    return await current(ctx, token)


def check_origin(request: Request) -> None:
    """403 unless the POST names this server's own origin (scheme, host and port)."""
    claimed = request.headers.get("origin")
    if claimed is None or claimed == "null":
        referer = request.headers.get("referer")
        if referer:
            parts = urlsplit(referer)
            claimed = f"{parts.scheme}://{parts.netloc}"
    if not claimed:
        raise Refused(403, "refused: the request names no Origin; submit it from the console")
    own = f"{request.url.scheme}://{request.headers.get('host', '')}"
    if claimed.lower().rstrip("/") != own.lower():
        raise Refused(403, "refused: the request comes from another origin")


def check_token(expected: str, form: dict[str, str]) -> None:
    given = form.get("csrf", "")
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Refused(403, "refused: the form's CSRF token is missing or stale; reload the page")


async def read_form(request: Request) -> dict[str, str]:
    """An `application/x-www-form-urlencoded` body as a dict (first value of each name)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise Refused(415, "the console accepts form posts only")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise Refused(413, "the form is too large")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise Refused(413, "the form is too large")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=100)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Refused(400, "the form could not be read") from exc
    form: dict[str, str] = {}
    for name, value in pairs:
        if _UNSTORABLE.search(name) or _UNSTORABLE.search(value):
            raise Refused(400, "form fields must not contain NUL or unpaired surrogates")
        form.setdefault(name, value)
    return form


async def guarded_form(request: Request, session: Session | None) -> tuple[Session, dict[str, str]]:
    """Origin, session, then CSRF token, in that order; the form only once all three pass."""
    check_origin(request)
    if session is None:
        raise Refused(403, "refused: not signed in (or the session has ended); sign in again")
    form = await read_form(request)
    check_token(session.csrf, form)
    return session, form
