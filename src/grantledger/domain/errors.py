"""Errors the domain and service layers raise; each class carries its HTTP status.

A subclass inherits its parent's status, so a new kind of conflict answers 409 without anyone
remembering to register it; `api/errors.py` reads `status` and nothing else.
"""

from __future__ import annotations

from typing import ClassVar


class LedgerError(Exception):
    """Base class: `message` is a sentence meant for the API caller."""

    status: ClassVar[int] = 500
    # Seconds a caller should wait before retrying; sent as `Retry-After` when set.
    retry_after_seconds: ClassVar[int | None] = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(LedgerError):
    """The request is malformed or breaks a rule of the resource (400)."""

    status = 400


class NotEntitled(LedgerError):
    """The account may not do this: not covered, not entitled (403)."""

    status = 403


class NotFound(LedgerError):
    """The resource does not exist in the caller's organization (404)."""

    status = 404


class Conflict(LedgerError):
    """The request conflicts with existing state: duplicate, replay mismatch, wrong state (409)."""

    status = 409


class LedgerInvariantBroken(AssertionError):
    """A rule of the ledger would be broken by a value being made: a bug, never an input, so
    not a `LedgerError` with a status for the caller. It is raised where the value is built,
    before anything is written, and the API answers it as any unexpected fault."""
