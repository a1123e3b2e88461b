"""What the database layer tells an observer: driver errors by kind, connections taken and
returned. The API turns these into metrics; the store knows nothing of Prometheus."""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine


class DatabaseObserver(Protocol):
    def error(self, kind: str) -> None: ...
    def checkout(self) -> None: ...
    def checkin(self) -> None: ...


def error_kind(context: ExceptionContext) -> str:
    """`disconnect`, `timeout` or `other`: what an operator alerts on differently."""
    original = context.original_exception
    text = f"{type(original).__name__} {original}".lower()
    if context.is_disconnect:
        return "disconnect"
    if "timeout" in text or "timed out" in text or "cancel" in text:
        return "timeout"
    return "other"


def watch(engine: AsyncEngine, observer: DatabaseObserver) -> None:
    """Report driver errors and pool checkouts/checkins of `engine` to `observer`."""
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "handle_error")
    def _error(context: ExceptionContext) -> None:
        observer.error(error_kind(context))

    @event.listens_for(sync_engine.pool, "checkout")
    def _checkout(*_: Any) -> None:
        observer.checkout()

    @event.listens_for(sync_engine.pool, "checkin")
    def _checkin(*_: Any) -> None:
        observer.checkin()
