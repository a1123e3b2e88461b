"""`grantledger serve | migrate | keys create|list|revoke|rotate | verify | export | report`."""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn, TypeVar

import typer
from rich.console import Console
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from grantledger.clock import clock_from_env
from grantledger.config import Settings
from grantledger.domain.errors import InvalidInput
from grantledger.domain.journal import parse_cursor
from grantledger.logs import uvicorn_config
from grantledger.server.bootstrap import BootstrapError, Shown
from grantledger.server.bootstrap import ensure as ensure_bootstrap
from grantledger.server.serving import GuardedHttpToolsProtocol
from grantledger.server.workers import serve as workers_serve
from grantledger.service.books import audit, journal, reports
from grantledger.service.books import export as export_files
from grantledger.service.books.export import Format
from grantledger.service.context import Cause, Context
from grantledger.service.notifications.sealing import load_server_key
from grantledger.service.operations import tenants
from grantledger.service.operations.verify import verify_ledger
from grantledger.store.database import Database
from grantledger.store.errors import Busy
from grantledger.store.migrate import upgrade

app = typer.Typer(
    help="grantledger: a credits and entitlements ledger speaking Togai's wire format.\n\n"
    "Database: GRANTLEDGER_DATABASE_URL (default sqlite:///./data/grantledger.db; "
    "postgresql://user@host/db for PostgreSQL).",
    no_args_is_help=True,
    add_completion=False,
)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
report_app = typer.Typer(help="Reports summed from the journal.", no_args_is_help=True)
app.add_typer(report_app, name="report")
err = Console(stderr=True)
T = TypeVar("T")


def _fail(message: str) -> NoReturn:
    """An operator's mistake: one plain line on stderr and exit 2, never a traceback."""
    print(f"grantledger: {message}", file=sys.stderr)
    raise typer.Exit(2)


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SystemExit as bad:
        _fail(str(bad.code))


def _server_key() -> bytes:
    try:
        return load_server_key()
    except SystemExit as bad:
        _fail(str(bad.code))


def _database_failure(settings: Settings, error: BaseException) -> NoReturn:
    # A database fault (store/errors) names its driver-level cause.
    cause = (error.__cause__ or error) if isinstance(error, Busy) else error
    reason = str(getattr(cause, "orig", None) or cause).strip().splitlines()
    url = make_url(settings.database_url).render_as_string(hide_password=True)
    if reason and "unsupported startup parameter" in reason[0] and not settings.database.pooler:
        # PgBouncer's answer to asyncpg's startup settings: it is a pooler, not PostgreSQL.
        _fail(
            f"cannot use the database {url}: {reason[0]}; this is a connection pooler "
            "(PgBouncer), so set GRANTLEDGER_DB_POOLER=pgbouncer (docs/scale-out.md)"
        )
    _fail(
        f"cannot use the database {url}: {reason[0] if reason else type(error).__name__}"
        " (is GRANTLEDGER_DATABASE_URL right, the server up, the data directory writable, "
        "and has `grantledger migrate` been run?)"
    )


def _guarded(settings: Settings, work: Callable[[], T]) -> T:
    try:
        return work()
    except (DBAPIError, OSError, Busy) as error:
        _database_failure(settings, error)


def _migrate(settings: Settings) -> None:
    _guarded(settings, lambda: upgrade(settings.database_url, settings.database.pooler))


def _context(settings: Settings, role: str) -> Context:
    # PostgreSQL shows which command holds a connection (pg_stat_activity.application_name).
    options = replace(settings.database, application_name=f"grantledger {role}")
    return Context(Database(settings.database_url, options), clock_from_env())


async def _with_context(settings: Settings, work, role: str = "cli"):  # type: ignore[no-untyped-def]
    ctx = _context(settings, role)
    try:
        return await work(ctx)
    except (DBAPIError, OSError, Busy) as error:
        # An operator's mistake (wrong URL, server down, never migrated): say so, no traceback.
        _database_failure(settings, error)
    finally:
        await ctx.db.dispose()


def _curl_example(host: str, port: int, key_shell: str) -> str:
    """A curl command; `key_shell` is shell text that expands to the key (never the key)."""
    # A wildcard bind address is not a destination a client can always connect to.
    target = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(host)
    if target is None:
        target = f"[{host}]" if ":" in host else host
    return f'curl -s -H "Authorization: Bearer {key_shell}" http://{target}:{port}/credits'


@app.command()
def migrate() -> None:
    """Apply the database migrations (on PostgreSQL, and analyze tables restored without
    statistics) and exit."""
    settings = _settings()
    _migrate(settings)
    err.print(f"[green]database is at the newest schema[/green] ({settings.database_url})")


def _check_port_free(host: str, port: int) -> None:
    # Before migrating: a second `serve` on a taken port must not touch the database first.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            _fail(f"cannot listen on {host}:{port}: {error.strerror or error}")


def _metrics_directory() -> str:
    """An empty directory where every worker of this run writes its metrics (multiprocess mode).

    Files left by an earlier run would add its counts to this one's, so the operator's own
    PROMETHEUS_MULTIPROC_DIR is emptied at start; without one, a fresh temporary directory
    is made and removed at exit.
    """
    chosen = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if chosen:
        path = Path(chosen)
        try:
            path.mkdir(parents=True, exist_ok=True)
            for stale in path.glob("*.db"):
                stale.unlink()
        except OSError as error:
            _fail(f"cannot use PROMETHEUS_MULTIPROC_DIR {chosen}: {error.strerror or error}")
        return str(path)
    made = tempfile.mkdtemp(prefix="grantledger-metrics-")
    atexit.register(shutil.rmtree, made, True)
    return made


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="TCP port."),
    workers: int = typer.Option(1, min=1, help="Worker processes sharing the database."),
    max_connections: int | None = typer.Option(
        None, help="Open connections per process (GRANTLEDGER_MAX_CONNECTIONS, default 1000)."
    ),
    idle_timeout: float | None = typer.Option(  # float-ok: seconds
        None, help="Seconds an idle connection stays open (GRANTLEDGER_IDLE_TIMEOUT, default 75)."
    ),
    rate_limit: str | None = typer.Option(
        None,
        help="Requests per second per API key, '<rate>:<burst>' or 0 "
        "(GRANTLEDGER_RATE_LIMIT, default 1000:2000).",
    ),
) -> None:
    """Migrate the database, make sure an API key exists, and serve the HTTP API.

    Every other setting is a GRANTLEDGER_* environment variable read by every worker: limits
    (GRANTLEDGER_MAX_CONNECTIONS_PER_ADDRESS, GRANTLEDGER_FIRST_REQUEST_TIMEOUT, ...), proxies
    (GRANTLEDGER_TRUSTED_PROXIES), GRANTLEDGER_METRICS_TOKEN, webhooks; see docs/operations.md.
    """
    # Flags become the environment every worker process reads its settings from.
    for name, value in (
        ("GRANTLEDGER_MAX_CONNECTIONS", max_connections),
        ("GRANTLEDGER_IDLE_TIMEOUT", idle_timeout),
        ("GRANTLEDGER_RATE_LIMIT", rate_limit),
    ):
        if value is not None:
            os.environ[name] = str(value)
    os.environ["GRANTLEDGER_WORKERS"] = str(workers)
    settings = _settings()
    # Every worker loads it at start; a missing key file is made here, once, before them.
    _server_key()
    _check_port_free(host, port)
    _migrate(settings)

    async def bootstrap(ctx: Context) -> Shown | None:
        return await ensure_bootstrap(
            ctx, settings.bootstrap_key, Path(settings.bootstrap_key_file)
        )

    try:
        shown = asyncio.run(_with_context(settings, bootstrap))
    except BootstrapError as error:
        _fail(str(error))
    if shown:
        # Never the key itself: this banner ends up in log files. Plain prints: a wrapped
        # command would not paste back into a shell.
        made = "created an API key" if shown.created else "API key"
        print(
            f"{made} for organization 'default': {shown.prefix}… ({shown.where})", file=sys.stderr
        )
        print("Try:  " + _curl_example(host, port, shown.shell), file=sys.stderr)
    else:
        err.print("API keys exist already; create another with: grantledger keys create --org NAME")
    err.print(f"Serving on http://{host}:{port}  (docs: http://{host}:{port}/docs)")
    # Set before any worker imports prometheus_client, so each writes its own files here.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_directory()
    limits = settings.limits
    workers_serve(
        workers,
        settings.worker_timeout,
        app="grantledger.server.app:factory",
        factory=True,
        host=host,
        port=port,
        http=GuardedHttpToolsProtocol,
        log_config=uvicorn_config(settings.log_level),
        log_level=settings.log_level,
        access_log=False,
        proxy_headers=False,
        # Longer than a load balancer's idle timeout (commonly 60 s) by default, so the server is
        # never the side that closes a pooled connection just as a client sends on it.
        timeout_keep_alive=int(max(1, limits.idle_timeout)),
        server_header=False,
    )


ORG = typer.Option(..., "--org", help="Organization name.")


def _keys(settings: Settings, work):  # type: ignore[no-untyped-def]
    try:
        return asyncio.run(_with_context(settings, work))
    except tenants.UnknownOrganization as unknown:
        _fail(f"no organization named {unknown.args[0]!r}; see `grantledger keys create`")


@keys_app.command("create")
def keys_create(
    org: str = ORG,
    name: str | None = typer.Option(None, help="A label for the key, shown by `keys list`."),
) -> None:
    """Print a new API key for ORG (the organization is created if new)."""
    settings = _settings()
    _migrate(settings)
    print(_keys(settings, lambda ctx: tenants.create_key(ctx, org, name)))


@keys_app.command("list")
def keys_list(org: str = ORG) -> None:
    """Show ORG's keys: prefix, name, created, revoked. Never the key itself."""
    settings = _settings()
    _migrate(settings)
    records = _keys(settings, lambda ctx: tenants.list_keys(ctx, org))
    print("prefix\tname\tcreated\trevoked")
    for record in records:
        revoked = record.revoked_at.isoformat() if record.revoked_at else "-"
        created = record.created_at.isoformat()
        print(f"{record.prefix}\t{record.name or '-'}\t{created}\t{revoked}")


@keys_app.command("revoke")
def keys_revoke(
    org: str = ORG,
    prefix: str | None = typer.Option(
        None, help="The key's prefix as `keys list` shows it (or the whole key)."
    ),
    all_keys: bool = typer.Option(False, "--all", help="Revoke every live key of ORG."),
) -> None:
    """Revoke one key of ORG (--prefix) or all of them (--all); they answer 401 within a second."""
    if (prefix is None) == (not all_keys):
        _fail("name the key with --prefix, or pass --all to revoke every key of the organization")
    settings = _settings()
    _migrate(settings)
    revoked = _keys(settings, lambda ctx: tenants.revoke_keys(ctx, org, prefix))
    if not revoked:
        _fail(f"no live key {prefix!r} in organization {org!r}; see `grantledger keys list`")
    for short in revoked:
        print(f"revoked {short}")


@keys_app.command("rotate")
def keys_rotate(
    org: str = ORG,
    name: str | None = typer.Option(None, help="A label for the new key."),
) -> None:
    """Print a new key for ORG and revoke every older one, in one transaction."""
    settings = _settings()
    _migrate(settings)
    key, revoked = _keys(settings, lambda ctx: tenants.rotate_keys(ctx, org, name))
    print(key)
    err.print(f"revoked {len(revoked)} older key(s): {', '.join(revoked) or '-'}")


@app.command()
def export(
    org: str = ORG,
    out: Path = typer.Option(..., "--out", help="The file to write (replaced if it exists)."),
    kind: Format = typer.Option(Format.CSV, "--format", help="csv, jsonl or parquet."),
    occurred_from: str | None = typer.Option(
        None, "--from", help="Rows that occurred at or after this ISO-8601 instant."
    ),
    occurred_to: str | None = typer.Option(
        None, "--to", help="Rows that occurred before this ISO-8601 instant."
    ),
    after: str | None = typer.Option(
        None,
        "--after",
        help="Only rows after this cursor (the last one a previous export printed).",
    ),
    audit_log: bool = typer.Option(
        False, "--audit", help="Export the audit log (who did what) instead of the journal."
    ),
) -> None:
    """Write ORG's journal (every movement of money and units) to a file, in commit order;
    with --audit, its audit log (every mutating request: who, what, its outcome).

    Prints the last row's cursor: pass it as --after next time to export only what is new;
    no row is ever skipped or written twice (docs/api.md, "The journal")."""
    if kind is Format.PARQUET and (missing := export_files.parquet_missing()):
        _fail(missing)
    try:
        where = journal.journal_filter(
            _instant(occurred_from, "--from"), _instant(occurred_to, "--to"), None, ()
        )
        start = parse_cursor(after) if after else None
    except InvalidInput as bad:
        _fail(bad.message)
    settings = _settings()

    async def work(ctx: Context) -> export_files.Written:
        tenant = ctx.tenant(await tenants.org_id_named(ctx, org), Cause(actor="cli:export"))
        if audit_log:
            logged = audit.audit_filter(where.occurred_from, where.occurred_to, None, None)
            rows = audit.every_row(tenant, logged, start)
            return await export_files.write(rows, kind, out, export_files.AUDIT)
        return await export_files.write(journal.every_row(tenant, where, start), kind, out)

    try:
        written = asyncio.run(_with_context(settings, work))
    except tenants.UnknownOrganization as unknown:
        _fail(f"no organization named {unknown.args[0]!r}; see `grantledger keys list`")
    except OSError as error:
        _fail(f"cannot write {out}: {error.strerror or error}")
    last = written.last.text() if written.last else (after or "-")
    err.print(f"{written.rows} row(s) written to {out}")
    print(f"cursor {last}")


def _instant(raw: str | None, name: str) -> datetime | None:
    if raw is None:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        _fail(f"{name} must be an ISO-8601 datetime such as 2026-01-01T00:00:00Z, not {raw!r}")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@report_app.command("month-close")
def report_month_close(
    org: str = ORG,
    month: str = typer.Option(..., "--month", help="The month to close, YYYY-MM (UTC)."),
    account: str | None = typer.Option(None, "--account", help="One account only."),
) -> None:
    """Print ORG's close of a month as JSON, per currency and per feature: opening + granted +
    adjusted - consumed - expired - voided = closing, revenue recognised, breakage and deferred
    revenue from the cost basis; every figure a sum of journal rows."""
    settings = _settings()

    async def work(ctx: Context) -> reports.MonthClose:
        tenant = ctx.tenant(await tenants.org_id_named(ctx, org), Cause(actor="cli:report"))
        return await reports.month_close(tenant, month, account)

    try:
        close = asyncio.run(_with_context(settings, work))
    except tenants.UnknownOrganization as unknown:
        _fail(f"no organization named {unknown.args[0]!r}; see `grantledger keys list`")
    except InvalidInput as bad:
        _fail(bad.message)
    print(json.dumps(reports.as_json(close), indent=2))


@app.command()
def verify() -> None:
    """Recompute every credit and feature entry from the ledger; exit 1 naming each mismatch."""
    settings = _settings()

    credits_checked, entries_checked, problems = asyncio.run(
        _with_context(settings, verify_ledger, "verify")
    )
    for problem in problems:
        print(problem)
    counted = f"{credits_checked} credit(s) and {entries_checked} feature entr(ies) checked"
    if problems:
        err.print(f"[red]{len(problems)} mismatch(es)[/red]; {counted}")
        raise typer.Exit(1)
    err.print(f"[green]ledger consistent[/green]: {counted}")


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app(prog_name="grantledger")


if __name__ == "__main__":
    main()
