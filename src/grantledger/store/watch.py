"""What the database layer tells an observer: driver errors by kind, connections taken and
returned. The API turns these into metrics; the store knows nothing of Prometheus."""

from __future__ import annotations

from typing import Any, Protocol
from weakref import WeakKeyDictionary

from sqlalchemy import event
from sqlalchemy.engine import Engine, ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine


class DatabaseObserver(Protocol):
    def error(self, kind: str) -> None: ...
    def checkout(self) -> None: ...
    def checkin(self) -> None: ...


# The observers of each engine, for the errors of statements run past SQLAlchemy.
_OBSERVERS: WeakKeyDictionary[Engine, list[DatabaseObserver]] = WeakKeyDictionary()


def kind_of(original: BaseException, is_disconnect: bool) -> str:
    """`disconnect`, `timeout` or `other`: what an operator alerts on differently."""
    text = f"{type(original).__name__} {original}".lower()
    if is_disconnect:
        return "disconnect"
    if "timeout" in text or "timed out" in text or "cancel" in text:
        return "timeout"
    return "other"


def error_kind(context: ExceptionContext) -> str:
    return kind_of(context.original_exception, context.is_disconnect)


def report_error(engine: Engine, original: BaseException, is_disconnect: bool) -> None:
    """Tell `engine`'s observers of a driver error SQLAlchemy did not see: a statement run on
    the raw connection (store/pg/driver.py) fires no `handle_error` event."""
    for observer in _OBSERVERS.get(engine, ()):
        observer.error(kind_of(original, is_disconnect))


def watch(engine: AsyncEngine, observer: DatabaseObserver) -> None:
    """Report driver errors and pool checkouts/checkins of `engine` to `observer`."""
    sync_engine = engine.sync_engine
    _OBSERVERS.setdefault(sync_engine, []).append(observer)

    @event.listens_for(sync_engine, "handle_error")
    def _error(context: ExceptionContext) -> None:
        observer.error(error_kind(context))

    @event.listens_for(sync_engine.pool, "checkout")
    def _checkout(*_: Any) -> None:
        observer.checkout()

    @event.listens_for(sync_engine.pool, "checkin")
    def _checkin(*_: Any) -> None:
        observer.checkin()
