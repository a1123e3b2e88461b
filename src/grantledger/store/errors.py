"""Failures of the database itself, as opposed to a rule of the ledger."""

from __future__ import annotations

from grantledger.domain.errors import LedgerError


class Busy(LedgerError):
    """The database stayed contended past every retry; the same request may succeed later (503).

    Nothing was written: the transaction was rolled back before this is raised.
    """

    status = 503
    retry_after_seconds = 1


class Unavailable(Busy):
    """No connection to the database could be opened in time (503): it is down, unreachable,
    refusing connections or not answering. Nothing was written."""

    retry_after_seconds = 2


class StatementTimeout(Busy):
    """A statement outlasted the statement timeout, or the server stopped answering before the
    commit (503). The transaction was rolled back: nothing was written."""


class OutcomeUnknown(Busy):
    """The connection was lost while the database was committing (503): the write may or may
    not have taken effect. Only a retry under the same idempotency key, invoice id or event id
    can tell, and it is safe because each of those takes effect at most once."""
