"""Which endpoint a request names, for requests answered before the framework routes them.

The door answers 401 and 429 before routing, and plain Starlette routes leave no `route` in the
scope; metrics and the door still need the path template (`/credits/{credit_id}`) such a
request was sent to. FastAPI (from 0.150 or so) wraps each included router in a route object
of its own that matches without naming the inner route, so the leaves are collected here once,
descending into included routers, and matched directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from starlette.routing import BaseRoute, Match, Router
from starlette.types import Scope


def _leaves(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    for route in routes:
        inner: Any = getattr(route, "original_router", None)
        if inner is not None:
            # An included router: its own routes carry their full paths (ours are included
            # without a prefix; a prefixed inclusion would be matched by the wrapper below).
            prefix = getattr(getattr(route, "include_context", None), "prefix", "") or ""
            yield from (_leaves(inner.routes) if not prefix else (route,))
        else:
            yield route


class RouteTemplates:
    """The path template of the endpoint a request names, or None when it names none."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self._routes: list[BaseRoute] | None = None

    def _all(self) -> list[BaseRoute]:
        # Collected at first use: routers are still being included while the app is built.
        if self._routes is None:
            self._routes = list(_leaves(self.router.routes))
        return self._routes

    def template(self, method: str, path: str, root_path: str = "") -> str | None:
        """The template of the route that fully matches (path and method); else, when only
        the method is wrong (a 405), the template of the path; else None."""
        arrived = {"type": "http", "path": path, "root_path": root_path, "method": method}
        partial: str | None = None
        for route in self._all():
            match, _ = route.matches(arrived)
            if match is Match.FULL:
                return str(getattr(route, "path", None) or "unmatched")
            if match is Match.PARTIAL and partial is None:
                partial = str(getattr(route, "path", None) or "unmatched")
        return partial

    def routed(self, scope: Scope) -> bool:
        """Whether some endpoint answers this path (with whatever method)."""
        method = scope.get("method", "GET")
        return self.template(method, scope["path"], scope.get("root_path", "")) is not None
