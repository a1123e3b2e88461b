"""Doubled slashes in a request path route as single ones.

Togai documents its host with a trailing slash (`https://api.togai.com/`), so the official
client, given that host, requests `//credits`: a path that works against Togai must work here.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from starlette.types import ASGIApp, Receive, Scope, Send

_RUNS = re.compile(r"/{2,}")
_RAW_RUNS = re.compile(rb"/{2,}")


class CollapseSlashes:
    """Pure ASGI middleware: `//a///b` → `/a/b` before anything routes, logs or counts it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw = scope.get("raw_path")
            if raw is not None and b"//" in raw:
                # The server's URL parser reads `//accounts/x` as host `accounts` and path `/x`,
                # so the path is rebuilt from the raw request target, as the server builds it.
                scope = dict(scope)
                scope["raw_path"] = _RAW_RUNS.sub(b"/", raw)
                scope["path"] = unquote(scope["raw_path"].decode("latin-1"))
            elif "//" in scope["path"]:
                scope = dict(scope)
                scope["path"] = _RUNS.sub("/", scope["path"])
        await self.app(scope, receive, send)
