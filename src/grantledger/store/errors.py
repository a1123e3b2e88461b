"""Failures of the database itself, as opposed to a rule of the ledger."""

from __future__ import annotations

from grantledger.domain.errors import LedgerError


class Busy(LedgerError):
    """The database stayed contended past every retry; the same request may succeed later (503).

    Nothing was written: the transaction was rolled back before this is raised.
    """

    status = 503
    retry_after_seconds = 1
