"""Errors the domain and service layers raise; the API maps each class to one HTTP status."""

from __future__ import annotations


class LedgerError(Exception):
    """Base class: `message` is a sentence meant for the API caller."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(LedgerError):
    """The request is malformed or breaks a rule of the resource (400)."""


class Unauthorized(LedgerError):
    """No valid API key (401)."""


class NotEntitled(LedgerError):
    """The account may not do this: not covered, not entitled (403)."""


class NotFound(LedgerError):
    """The resource does not exist in the caller's organization (404)."""


class Conflict(LedgerError):
    """The request conflicts with existing state: duplicate, replay mismatch, wrong state (409)."""


class Busy(LedgerError):
    """The database stayed contended past every retry; the same request may succeed later (503).

    Nothing was written: the transaction was rolled back before this is raised.
    """

    retry_after_seconds = 1
