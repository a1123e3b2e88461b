"""`grantledger serve | migrate | keys create | verify`."""

from __future__ import annotations

import asyncio
import os
import sys

import typer
import uvicorn
from rich.console import Console
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from grantledger.clock import clock_from_env
from grantledger.config import Settings
from grantledger.service import tenants
from grantledger.service.context import Context
from grantledger.service.verify import verify_ledger
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
err = Console(stderr=True)


def _context(settings: Settings) -> Context:
    return Context(Database(settings.database_url, settings.database), clock_from_env())


async def _with_context(settings: Settings, work):  # type: ignore[no-untyped-def]
    ctx = _context(settings)
    try:
        return await work(ctx)
    except (DBAPIError, OSError, Busy) as error:
        # An operator's mistake (wrong URL, server down, never migrated): say so, no traceback.
        # A database fault (store/errors) names its driver-level cause.
        cause = (error.__cause__ or error) if isinstance(error, Busy) else error
        reason = str(getattr(cause, "orig", None) or cause or type(cause).__name__)
        reason = reason.splitlines()[0]
        err.print(
            f"[red]cannot use the database[/red] {make_url(settings.database_url)!r}: {reason}\n"
            "Is GRANTLEDGER_DATABASE_URL right, and has `grantledger migrate` been run?"
        )
        raise typer.Exit(2) from None
    finally:
        await ctx.db.dispose()


def _curl_example(host: str, port: int, key: str) -> str:
    # A wildcard bind address is not a destination a client can always connect to.
    target = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(host)
    if target is None:
        target = f"[{host}]" if ":" in host else host
    return f"curl -s -H 'Authorization: Bearer {key}' http://{target}:{port}/credits"


@app.command()
def migrate() -> None:
    """Apply the database migrations and exit."""
    settings = Settings.from_env()
    upgrade(settings.database_url)
    err.print(f"[green]database is at the newest schema[/green] ({settings.database_url})")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="TCP port."),
    workers: int = typer.Option(1, min=1, help="Worker processes sharing the database."),
) -> None:
    """Migrate the database, make sure an API key exists, and serve the HTTP API."""
    settings = Settings.from_env()
    upgrade(settings.database_url)

    async def bootstrap(ctx: Context) -> str | None:
        if settings.bootstrap_key:
            await tenants.ensure_key(ctx, "default", settings.bootstrap_key)
            return settings.bootstrap_key
        if not await tenants.has_any_key(ctx):
            return await tenants.create_key(ctx, "default")
        return None

    key = asyncio.run(_with_context(settings, bootstrap))
    if key:
        # Plain prints: a wrapped key or command would not paste back into a shell.
        print(f"API key for organization 'default': {key}", file=sys.stderr)
        print("Try:  " + _curl_example(host, port, key), file=sys.stderr)
    else:
        err.print("API keys exist already; create another with: grantledger keys create --org NAME")
    err.print(f"Serving on http://{host}:{port}  (docs: http://{host}:{port}/docs)")
    uvicorn.run(
        "grantledger.api.app:factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level,
        access_log=False,
        proxy_headers=False,
        # Longer than a load balancer's idle timeout (commonly 60 s), so the server is never the
        # side that closes a pooled connection just as a client sends its next request on it.
        timeout_keep_alive=75,
    )


@keys_app.command("create")
def keys_create(org: str = typer.Option(..., "--org", help="Organization name.")) -> None:
    """Print a new API key for ORG (the organization is created if new)."""
    settings = Settings.from_env()
    upgrade(settings.database_url)
    key = asyncio.run(_with_context(settings, lambda ctx: tenants.create_key(ctx, org)))
    print(key)


@app.command()
def verify() -> None:
    """Recompute every credit and feature entry from the ledger; exit 1 naming each mismatch."""
    settings = Settings.from_env()

    credits_checked, entries_checked, problems = asyncio.run(
        _with_context(settings, verify_ledger)
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
