"""Settings read from the environment, in one place."""

from __future__ import annotations

import ipaddress
import math
import os
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from grantledger.domain.corrections import DEFAULT_CORRECTION_GRACE
from grantledger.store.engine import POOLERS, DatabaseOptions, async_url, is_sqlite
from grantledger.store.replicas import DEFAULT_MAX_LAG_MS, NO_REPLICAS, ReplicaOptions

DEFAULT_SQLITE_URL = "sqlite:///./data/grantledger.db"
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(name: str) -> tuple[Network, ...]:
    found: list[Network] = []
    for part in os.environ.get(name, "").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            found.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise SystemExit(
                f"{name} must be a comma list of addresses or networks "
                f"(e.g. 10.0.0.5,10.1.0.0/16), not {part!r}"
            ) from None
    return tuple(found)


@dataclass(frozen=True)
class Rate:
    """A token bucket's shape: `per_second` tokens refill, up to `burst`; 0 per second is off."""

    per_second: float  # float-ok: a request rate, not money
    burst: float  # float-ok: a request count, not money

    @property
    def enabled(self) -> bool:
        return self.per_second > 0


@dataclass(frozen=True)
class Limits:
    """What one server process lets a client hold: connections, time, headers, request rate."""

    max_header_bytes: int
    max_headers: int
    header_timeout: float  # float-ok: seconds
    body_timeout: float  # float-ok: seconds
    idle_timeout: float  # float-ok: seconds
    # A new connection must begin its first request within this (server/serving.py).
    first_request_timeout: float  # float-ok: seconds
    max_connections: int
    # Connections one client address may hold open (trusted proxies excepted).
    max_connections_per_address: int
    rate_limit: Rate
    auth_failure_limit: Rate
    workers: int
    # Peers whose X-Forwarded-For/-Proto/-Host are believed (api/proxies.py).
    trusted_proxies: tuple[Network, ...]
    # API requests one process works on at once (None: its database connections), and the
    # fraction of those one tenant may hold (api/fairness.py).
    max_in_flight: int | None
    tenant_share: float  # float-ok: a fraction

    @classmethod
    def from_env(cls) -> Limits:
        workers = _count("GRANTLEDGER_WORKERS", "1", minimum=1)
        max_connections = _count("GRANTLEDGER_MAX_CONNECTIONS", "1000", minimum=1)
        return cls(
            max_header_bytes=_count("GRANTLEDGER_MAX_HEADER_BYTES", "65536", minimum=1024),
            max_headers=_count("GRANTLEDGER_MAX_HEADERS", "100", minimum=10),
            header_timeout=_positive("GRANTLEDGER_HEADER_TIMEOUT", "10"),
            body_timeout=_positive("GRANTLEDGER_BODY_TIMEOUT", "30"),
            idle_timeout=_positive("GRANTLEDGER_IDLE_TIMEOUT", "75"),
            first_request_timeout=_positive("GRANTLEDGER_FIRST_REQUEST_TIMEOUT", "5"),
            max_connections=max_connections,
            max_connections_per_address=_count(
                "GRANTLEDGER_MAX_CONNECTIONS_PER_ADDRESS",
                str(max(1, max_connections // 10)),
                minimum=1,
            ),
            # Enforced by each process on its own: each of N workers takes its 1/N share.
            rate_limit=_rate("GRANTLEDGER_RATE_LIMIT", "1000:2000", workers),
            auth_failure_limit=_rate("GRANTLEDGER_AUTH_FAILURE_LIMIT", "50:500", workers),
            workers=workers,
            trusted_proxies=_networks("GRANTLEDGER_TRUSTED_PROXIES"),
            max_in_flight=(
                _count("GRANTLEDGER_MAX_IN_FLIGHT", "1", minimum=1)
                if os.environ.get("GRANTLEDGER_MAX_IN_FLIGHT", "").strip()
                else None
            ),
            tenant_share=_fraction("GRANTLEDGER_TENANT_SHARE", "0.25"),
        )

    def in_flight_slots(self, database: DatabaseOptions) -> tuple[int, int]:
        """(requests a process works on at once, the most of them one tenant holds)."""
        limit = self.max_in_flight or database.pool_size + database.max_overflow
        # Rounded down: each slot a flood holds is event-loop time every other tenant's request
        # waits behind (with 2 of 5 a quiet tenant's p50 doubled; with 1 of 5, +30-40%).
        return limit, max(1, math.floor(limit * self.tenant_share))


@dataclass(frozen=True)
class Settings:
    database_url: str
    bootstrap_key: str | None
    # Where the bootstrap key is kept when GRANTLEDGER_BOOTSTRAP_KEY is unset (server/bootstrap).
    bootstrap_key_file: str
    sweep_interval_seconds: float  # float-ok: seconds, not money
    log_level: str
    limits: Limits
    # Database faults and settings (docs/operations.md): every wait on the database is bounded.
    database: DatabaseOptions
    # A worker whose event loop has not run for this long is killed and replaced (api/workers).
    worker_timeout: float  # float-ok: seconds
    webhooks: WebhookSettings
    # When set, GET /metrics wants `Authorization: Bearer <this>` (docs/operations.md).
    metrics_token: str | None
    # How long after the entries an event drew from end it may still be corrected.
    correction_grace: timedelta = DEFAULT_CORRECTION_GRACE
    # Streaming replicas for the reads that may lag (docs/scale-out.md); none by default.
    replicas: ReplicaOptions = NO_REPLICAS

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=_database_url(),
            bootstrap_key=os.environ.get("GRANTLEDGER_BOOTSTRAP_KEY") or None,
            bootstrap_key_file=os.environ.get(
                "GRANTLEDGER_BOOTSTRAP_KEY_FILE", "./data/bootstrap-api-key"
            ),
            sweep_interval_seconds=_seconds("GRANTLEDGER_SWEEP_INTERVAL", "60"),
            log_level=_log_level(),
            limits=Limits.from_env(),
            database=database_options_from_env(),
            worker_timeout=_positive("GRANTLEDGER_WORKER_TIMEOUT", "30"),
            # Read here too, so a bad webhook setting stops `serve` before any worker starts.
            webhooks=WebhookSettings.from_env(),
            metrics_token=_metrics_token(),
            correction_grace=timedelta(
                days=_whole("GRANTLEDGER_CORRECTION_GRACE_DAYS", "7", maximum=MAX_GRACE_DAYS)
            ),
            replicas=replica_options_from_env(),
        )


def _metrics_token() -> str | None:
    raw = os.environ.get("GRANTLEDGER_METRICS_TOKEN", "").strip()
    if not raw:
        return None
    if len(raw) < 16 or any(c.isspace() for c in raw):
        raise SystemExit(
            "GRANTLEDGER_METRICS_TOKEN must be at least 16 characters without spaces "
            "(e.g. the output of `openssl rand -hex 24`)"
        )
    return raw


# The drivers the URLs users write are mapped to (store/engine.async_url); nothing else is run.
_DRIVERS = {"sqlite+aiosqlite", "postgresql+asyncpg"}


def _database_url() -> str:
    raw = os.environ.get("GRANTLEDGER_DATABASE_URL", DEFAULT_SQLITE_URL).strip()
    usage = "sqlite:///path/to/file.db or postgresql://user@host:5432/database"
    try:
        driver = make_url(async_url(raw)).drivername
    except ArgumentError:
        # The value may hold a password: it is not repeated.
        raise SystemExit(f"GRANTLEDGER_DATABASE_URL is not a database URL; use {usage}") from None
    if driver not in _DRIVERS:
        scheme = raw.partition(":")[0]
        raise SystemExit(
            f"GRANTLEDGER_DATABASE_URL: {scheme}:// databases are not supported; use {usage}"
        )
    return raw


def _seconds(name: str, default: str) -> float:  # float-ok: seconds, not money
    raw = os.environ.get(name, default)
    try:
        value = float(raw)  # float-ok: seconds, not money
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):  # float-ok: seconds, not money
        raise SystemExit(f"{name} must be a number of seconds (0 or more), not {raw!r}")
    return value


def _log_level() -> str:
    raw = os.environ.get("GRANTLEDGER_LOG_LEVEL", "info")
    if raw.lower() not in LOG_LEVELS:
        choices = ", ".join(LOG_LEVELS)
        raise SystemExit(f"GRANTLEDGER_LOG_LEVEL must be one of {choices}, not {raw!r}")
    return raw.lower()


# The longest correction grace: a year past the entries' end, like the reach of `asOf`.
MAX_GRACE_DAYS = 365


def _whole(name: str, default: str, maximum: int) -> int:
    raw = os.environ.get(name, default)
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 0 <= value <= maximum:
        raise SystemExit(f"{name} must be a whole number of days from 0 to {maximum}, not {raw!r}")
    return value


def _count(name: str, default: str, minimum: int) -> int:
    raw = os.environ.get(name, default)
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise SystemExit(f"{name} must be a whole number, at least {minimum}, not {raw!r}")
    return value


def _fraction(name: str, default: str) -> float:  # float-ok: a fraction
    raw = os.environ.get(name, default)
    try:
        value = float(raw)  # float-ok: a fraction
    except ValueError:
        value = -1.0
    if not 0 < value <= 1:
        raise SystemExit(f"{name} must be a fraction above 0 and at most 1 (e.g. 0.5), not {raw!r}")
    return value


def _positive(name: str, default: str) -> float:  # float-ok: seconds, not money
    value = _seconds(name, default)
    if value <= 0:
        raise SystemExit(f"{name} must be a number of seconds above 0, not {value:g}")
    return value


def _rate(name: str, default: str, workers: int) -> Rate:
    raw = os.environ.get(name, default).strip()
    if raw == "0":
        return Rate(0.0, 0.0)
    per_second, sep, burst = raw.partition(":")
    try:
        rate = float(per_second)  # float-ok: a request rate
        size = float(burst) if sep else rate  # float-ok: a request count
    except ValueError:
        rate = size = -1.0
    if not (0 < rate < float("inf") and 1 <= size < float("inf")):  # float-ok: a request rate
        raise SystemExit(
            f"{name} must be '<requests per second>:<burst>' (e.g. 1000:2000) or 0 for off, "
            f"not {raw!r}"
        )
    # The bucket lives in each process, so each of N workers keeps its share of the whole.
    return Rate(rate / workers, max(size / workers, 1.0))


# --- Database faults and settings ----------------------------------------------------------


def database_options_from_env() -> DatabaseOptions:
    default = DatabaseOptions()
    return DatabaseOptions(
        connect_timeout=_limit("GRANTLEDGER_DB_CONNECT_TIMEOUT", default.connect_timeout),
        pool_timeout=_limit("GRANTLEDGER_DB_POOL_TIMEOUT", default.pool_timeout),
        statement_timeout=_limit(
            "GRANTLEDGER_DB_STATEMENT_TIMEOUT", default.statement_timeout, off=True
        ),
        pool_size=_count("GRANTLEDGER_DB_POOL_SIZE", str(default.pool_size), minimum=1),
        max_overflow=_count("GRANTLEDGER_DB_MAX_OVERFLOW", str(default.max_overflow), minimum=0),
        pooler=_pooler(),
    )


def _pooler() -> str | None:
    raw = os.environ.get("GRANTLEDGER_DB_POOLER", "").strip().lower()
    if raw in ("", "none"):
        return None
    if raw not in POOLERS:
        raise SystemExit(
            f"GRANTLEDGER_DB_POOLER must be one of {', '.join(POOLERS)} (or unset for a direct "
            f"connection), not {raw!r}"
        )
    url = os.environ.get("GRANTLEDGER_DATABASE_URL", DEFAULT_SQLITE_URL).strip()
    if is_sqlite(url):
        raise SystemExit(
            f"GRANTLEDGER_DB_POOLER={raw} is for a PostgreSQL GRANTLEDGER_DATABASE_URL; "
            "SQLite has no connection pooler: unset it"
        )
    return raw


def _limit(name: str, default: float, off: bool = False) -> float:  # float-ok: seconds
    value = _seconds(name, f"{default:g}")
    if value == 0 and not off:
        raise SystemExit(f"{name} must be more than 0 seconds")
    return value


# The longest lag a replica read may have: an hour (a replica further behind is broken).
MAX_READ_LAG_MS = 3_600_000
# More read URLs than this is a mistake in the setting, not a topology.
MAX_READ_URLS = 16


def replica_options_from_env() -> ReplicaOptions:
    raw = os.environ.get("GRANTLEDGER_READ_DATABASE_URL", "").strip()
    urls = tuple(part.strip() for part in raw.split(",") if part.strip())
    usage = "a comma list of postgresql://user@host:5432/database URLs of streaming replicas"
    if len(urls) > MAX_READ_URLS:
        raise SystemExit(f"GRANTLEDGER_READ_DATABASE_URL: at most {MAX_READ_URLS} replicas")
    for n, url in enumerate(urls, start=1):
        try:
            driver = make_url(async_url(url)).drivername
        except ArgumentError:
            driver = ""
        if driver != "postgresql+asyncpg":
            # The value may hold a password: it is named by its place, not repeated.
            raise SystemExit(f"GRANTLEDGER_READ_DATABASE_URL: URL {n} is not {usage}")
    if urls and is_sqlite(_database_url()):
        raise SystemExit(
            "GRANTLEDGER_READ_DATABASE_URL is for a PostgreSQL GRANTLEDGER_DATABASE_URL; "
            "SQLite has no read replicas: unset it"
        )
    lag = os.environ.get("GRANTLEDGER_READ_MAX_LAG_MS", str(DEFAULT_MAX_LAG_MS)).strip()
    try:
        max_lag_ms = int(lag)
    except ValueError:
        max_lag_ms = -1
    if not 0 <= max_lag_ms <= MAX_READ_LAG_MS:
        raise SystemExit(
            f"GRANTLEDGER_READ_MAX_LAG_MS must be a whole number of milliseconds from 0 to "
            f"{MAX_READ_LAG_MS}, not {lag!r}"
        )
    return ReplicaOptions(urls=urls, max_lag_ms=max_lag_ms)


# --- Webhooks ------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookSettings:
    """The delivery worker's knobs (docs/operations.md, "Webhooks")."""

    retry_seconds: tuple[float, ...]  # float-ok: delays after the first attempt
    allow_private: bool
    timeout: float  # float-ok: seconds per attempt
    poll_interval: float  # float-ok: seconds between looks at the outbox
    enabled: bool

    @classmethod
    def from_env(cls) -> WebhookSettings:
        from grantledger.domain.webhooks import DEFAULT_RETRY_SECONDS

        raw = os.environ.get("GRANTLEDGER_WEBHOOK_RETRY_SECONDS", "").strip()
        delays: tuple[float, ...] = tuple(float(d) for d in DEFAULT_RETRY_SECONDS)  # float-ok
        if raw:
            try:
                delays = tuple(float(part) for part in raw.split(","))  # float-ok: seconds
            except ValueError:
                delays = (-1.0,)
            if not all(0 <= d < float("inf") for d in delays) or len(delays) > 50:  # float-ok
                raise SystemExit(
                    "GRANTLEDGER_WEBHOOK_RETRY_SECONDS must be a comma list of up to 50 delays "
                    f"in seconds (e.g. 5,300,1800), not {raw!r}"
                )
        allow = os.environ.get("GRANTLEDGER_WEBHOOK_ALLOW_PRIVATE", "0").strip().lower()
        return cls(
            retry_seconds=delays,
            allow_private=allow in ("1", "true", "yes"),
            timeout=_positive("GRANTLEDGER_WEBHOOK_TIMEOUT", "10"),
            poll_interval=_positive("GRANTLEDGER_WEBHOOK_POLL_INTERVAL", "1"),
            enabled=os.environ.get("GRANTLEDGER_WEBHOOK_WORKER", "1").strip() != "0",
        )
