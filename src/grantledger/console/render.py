"""Templates and the headers every console response carries."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from grantledger.domain.money import canonical

# Nothing is loaded from anywhere but this server; no script runs at all.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Same-origin only: the Origin check falls back on Referer, which must not leak outside.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def wire(value: Any) -> str:
    """A value written as the API's JSON writes it (amounts exact, instants in UTC with Z)."""
    if value is None:
        return "—"
    if isinstance(value, Decimal):
        return canonical(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def day(value: datetime | date | None) -> str:
    return "—" if value is None else value.isoformat()[:10]


_env = Environment(
    loader=PackageLoader("grantledger.console", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["wire"] = wire
_env.filters["day"] = day


def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _env.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


def headers() -> dict[str, str]:
    return dict(_HEADERS)
