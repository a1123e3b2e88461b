"""One rule for every request body of the API: it is JSON, and says so.

A body sent with another content type, or with none (`curl -d` sends a form type; a bare
`fetch` sends none), used to meet three different answers: the `/entitled` fast path parsed it
anyway, the routes refused it with a pydantic sentence about dictionaries, and a route with only
optional fields could take it as empty. Here every API request that carries a body must declare
`application/json` (or a `…+json` type), else it is answered 415 naming the header to send,
before its body is read. Requests without a body (`…/void`, `…/capture`) need no content type;
the console posts forms and has its own rule (console/guard.py).
"""

from __future__ import annotations

from email.message import Message

from starlette.types import ASGIApp, Receive, Scope, Send

from grantledger.api.errors import error_response

_CONSOLE = "/console"


def declared_type(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The request's media type (`application/json`), or None when it declares none."""
    for name, value in headers:
        if name == b"content-type":
            message = Message()
            message["content-type"] = value.decode("latin-1")
            return message.get_content_type()
    return None


def is_json(media_type: str | None) -> bool:
    if media_type is None:
        return False
    main, _, sub = media_type.partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


def _has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"transfer-encoding":
            return True
        if name == b"content-length":
            return value.strip() not in (b"", b"0")
    return False


def refusal(media_type: str | None) -> str:
    sent = f"this one is {media_type}" if media_type else "this one declares none"
    return (
        "the request body must be JSON sent with the header 'Content-Type: application/json' "
        f"({sent})"
    )


class JsonBodies:
    """Pure ASGI middleware: 415 for an API request whose body is not declared as JSON."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_CONSOLE):
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        if _has_body(headers):
            media_type = declared_type(headers)
            if not is_json(media_type):
                response = error_response(415, refusal(media_type))
                # The body is never read: closing spares reading whatever is still coming.
                response.headers["Connection"] = "close"
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
