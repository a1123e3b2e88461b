"""What refers to an account or a customer: the rows that keep them from being deleted."""

from __future__ import annotations

import sqlalchemy as sa

from grantledger.domain.removal import SHOWN, AccountTies
from grantledger.store.tables import (
    accounts,
    alerts,
    credit_holds,
    credits,
    events,
    feature_entries,
    purchases,
    schedules,
)
from grantledger.store.tx import Tx


def _any(tx: Tx, table: sa.Table, account_id: str) -> sa.Exists:
    # Each on an index that leads with (org_id, account_id): a probe, not a scan.
    return sa.exists().where(table.c.org_id == tx.org_id, table.c.account_id == account_id)


async def account_ties(tx: Tx, account_id: str) -> AccountTies:
    """Whether the ledger holds anything for the account, and the ACTIVE alerts watching it
    alone (one round trip for the ledger's kinds)."""
    kinds = {
        "credits": credits,
        "holds": credit_holds,
        "entries": feature_entries,
        "schedules": schedules,
        "purchases": purchases,
        "events": events,
    }
    query = sa.select(*(_any(tx, t, account_id).label(k) for k, t in kinds.items()))
    found = (await tx.conn.execute(query)).one()._mapping
    watching = await tx.conn.execute(
        sa.select(alerts.c.id)
        .where(
            alerts.c.org_id == tx.org_id,
            alerts.c.status == "ACTIVE",
            alerts.c.account_id == account_id,
        )
        .order_by(alerts.c.id)
    )
    return AccountTies(**{k: bool(found[k]) for k in kinds}, alerts=tuple(watching.scalars()))


async def customer_accounts(tx: Tx, customer_id: str) -> tuple[list[str], int]:
    """The first account ids of a customer (as many as a refusal names) and how many it has."""
    owned = (accounts.c.org_id == tx.org_id, accounts.c.customer_id == customer_id)
    first = await tx.conn.execute(
        sa.select(accounts.c.id).where(*owned).order_by(accounts.c.id).limit(SHOWN)
    )
    total = await tx.conn.execute(sa.select(sa.func.count()).select_from(accounts).where(*owned))
    return list(first.scalars()), int(total.scalar_one())
