"""Where the server is, how to authenticate, and how patient to be."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

import httpx

from grantledger import __version__

__all__ = ["DEFAULT_HOST", "Configuration"]

DEFAULT_HOST = "http://127.0.0.1:8000"
HOST_ENV = "GRANTLEDGER_HOST"
TOKEN_ENV = "GRANTLEDGER_API_KEY"


class Configuration:
    """Settings shared by every request of an `ApiClient` / `AsyncApiClient`.

    - `host`: base URL of the server, e.g. `https://ledger.example.com` (a path prefix such as
      `https://example.com/ledger` is kept). Default: `$GRANTLEDGER_HOST`, else
      `http://127.0.0.1:8000`.
    - `access_token`: the API key, sent as `Authorization: Bearer <key>`. Default:
      `$GRANTLEDGER_API_KEY`; without one no Authorization header is sent.
    - `timeout`: seconds for connecting, and for each read/write (or an `httpx.Timeout`);
      None waits forever.
    - `retries`: how many times a request that is safe to repeat is retried after a 429/503
      answer or a broken connection (0 disables retries).
    - `backoff_factor`, `max_backoff`: the wait before retry n (n = 0, 1, …) is
      `backoff_factor * 2**n` seconds (jittered, at most `max_backoff`), unless the server
      sent `Retry-After`, which is honoured exactly.
    - `max_retry_after`: a `Retry-After` longer than this many seconds is not waited for; the
      429/503 is raised instead.
    - `retry_statuses`: the statuses that are retried (default 429 and 503).
    - `headers`: extra headers sent with every request.
    - `verify`: TLS verification (bool, or a CA bundle path).
    """

    def __init__(
        self,
        host: str | None = None,
        access_token: str | None = None,
        *,
        timeout: float | httpx.Timeout | None = 30.0,
        retries: int = 3,
        backoff_factor: float = 0.5,  # float-ok: seconds
        max_backoff: float = 30.0,  # float-ok: seconds
        max_retry_after: float = 120.0,  # float-ok: seconds
        retry_statuses: Iterable[int] = (429, 503),
        headers: Mapping[str, str] | None = None,
        verify: bool | str = True,
        user_agent: str | None = None,
    ) -> None:
        if retries < 0:
            raise ValueError("retries must be 0 or more")
        if backoff_factor < 0 or max_backoff < 0 or max_retry_after < 0:
            raise ValueError("backoff_factor, max_backoff and max_retry_after must be >= 0")
        chosen = host if host is not None else os.environ.get(HOST_ENV) or DEFAULT_HOST
        self.host: str = chosen.rstrip("/")
        self.access_token: str | None = (
            access_token if access_token is not None else os.environ.get(TOKEN_ENV) or None
        )
        self.timeout = timeout
        self.retries = retries
        self.backoff_factor = backoff_factor
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self.retry_statuses: frozenset[int] = frozenset(retry_statuses)
        self.headers: dict[str, str] = dict(headers or {})
        self.verify = verify
        self.user_agent: str = user_agent or f"grantledger-python/{__version__}"

    def default_headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": self.user_agent}
        if self.access_token:
            headers["Authorization"] = f"Bearer {self.access_token}"
        headers.update(self.headers)
        return headers

    def httpx_timeout(self) -> httpx.Timeout:
        if isinstance(self.timeout, httpx.Timeout):
            return self.timeout
        return httpx.Timeout(self.timeout)

    def __repr__(self) -> str:
        token = "set" if self.access_token else "none"
        return (
            f"Configuration(host={self.host!r}, access_token=<{token}>, "
            f"timeout={self.timeout!r}, retries={self.retries!r})"
        )
