"""Entitlement values set on an account (they override what its plan gives)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from grantledger.store.tables import entitlement_values
from grantledger.store.tx import Tx


async def set_value(tx: Tx, account_id: str, feature_id: str, value: str, at: datetime) -> None:
    key = (
        entitlement_values.c.org_id == tx.org_id,
        entitlement_values.c.account_id == account_id,
        entitlement_values.c.feature_id == feature_id,
    )
    updated = await tx.conn.execute(
        entitlement_values.update().where(*key).values(value=value, updated_at=at)
    )
    if updated.rowcount == 0:
        await tx.conn.execute(
            entitlement_values.insert().values(
                org_id=tx.org_id,
                account_id=account_id,
                feature_id=feature_id,
                value=value,
                updated_at=at,
            )
        )


async def account_values(tx: Tx, account_id: str) -> dict[str, str]:
    """Feature id -> the value set on the account."""
    rows = await tx.conn.execute(
        sa.select(entitlement_values.c.feature_id, entitlement_values.c.value).where(
            entitlement_values.c.org_id == tx.org_id,
            entitlement_values.c.account_id == account_id,
        )
    )
    return {r.feature_id: r.value for r in rows}


async def delete_account_values(tx: Tx, account_id: str) -> None:
    """Forget the values set on an account (only when the account itself goes)."""
    await tx.conn.execute(
        entitlement_values.delete().where(
            entitlement_values.c.org_id == tx.org_id,
            entitlement_values.c.account_id == account_id,
        )
    )
