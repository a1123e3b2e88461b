"""PostgreSQL as one declared backend: every statement of the store that has a
PostgreSQL-only version, and the `Backend` that maps each portable statement to it
(`store/backend.py`). `Database` takes this backend when it opens a PostgreSQL URL; nothing
else in the store asks which database it is on.

`tests/store/test_pg_statements.py` runs each pair below over the same rows on PostgreSQL and
requires the same records.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from grantledger.store.backend import Backend, Specialised
from grantledger.store.credits import credit_transactions
from grantledger.store.entitlements import entries, feature_holds, history, schedules
from grantledger.store.entitlements import gate as portable_gate
from grantledger.store.entitlements import usage as portable_usage
from grantledger.store.notifications import alerts
from grantledger.store.parties import parties
from grantledger.store.pg import gate as pg_gate
from grantledger.store.pg import reads, sums
from grantledger.store.pg import usage as pg_usage

# (Names here never shadow this package's modules: `gate` and `usage` are `store/pg/`'s.)
# Portable statement → its PostgreSQL version (same arguments, same records).
REPLACED: list[tuple[Specialised[Any, Any], Callable[..., Awaitable[Any]]]] = [
    (portable_gate.gate_inputs, pg_gate.gate_inputs),
    (portable_gate.claim_sorted, pg_gate.claim_sorted),
    (portable_gate.prior_of_sorted, pg_gate.prior_of_sorted),
    (portable_gate.lock_sorted, pg_gate.lock_sorted),
    (portable_gate.record_batch, pg_gate.record_batch),
    (parties.share_lock_sorted, reads.share_lock_sorted),
    (schedules.schedules_of, reads.schedules_of),
    (entries.present_sorted, reads.present_sorted),
    (feature_holds.lapsed_accounts, reads.lapsed_accounts),
    (alerts.active_alerts_of, reads.active_alerts_of),
    (history.draws_after, sums.draws_after),
    (credit_transactions.debits_around, sums.debits_around),
    (portable_usage.plan_drawn, sums.plan_drawn),
    (portable_usage.locked_rows, pg_usage.locked_rows),
    (portable_usage.save_usage, pg_usage.save_usage),
]


async def _local_timeout(conn: AsyncConnection, milliseconds: int) -> None:
    """Bound the statements of the current transaction."""
    await conn.execute(sa.text(f"SET LOCAL statement_timeout = {int(milliseconds)}"))


def _commit_order() -> Any:
    # The writing transaction's 64-bit id (epoch included, so it never wraps).
    return sa.text("pg_current_xact_id()::text::bigint")


def _settled_below() -> Any:
    # The oldest transaction still running when this statement's snapshot was taken (or the
    # next id to be given when none is): every transaction below it has committed or aborted.
    return sa.text("pg_snapshot_xmin(pg_current_snapshot())::text::bigint")


POSTGRES = Backend(
    "postgresql",
    insert=postgresql.insert,
    local_timeout=_local_timeout,
    commit_order=_commit_order,
    settled_below=_settled_below,
    replacements={portable.key: replacement for portable, replacement in REPLACED},
)
