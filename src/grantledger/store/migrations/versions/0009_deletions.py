"""Deletions that keep what must stay: auto top-up settings keep their counters when deleted,
and the indexes that let a deletion find what still hangs on a customer or an account.

`DELETE /accounts/{id}/auto_topup` used to remove the row, and with it the crossing counter
(from which each top-up's idempotency key is derived) and the month's top-up count: a later
`PUT` started both from 0, the next top-up's key collided with an earlier top-up's credit and
every write crossing the threshold answered 503, and the monthly cap could be reset at will.
A deleted setting now keeps its row, marked `deleted_at`; `PUT` brings it back with its
counters. Existing rows are all live (NULL): nothing else to migrate. A counter already reset
by an earlier delete is healed on its next top-up, which steps past every key in use.

`DELETE /customers/{id}` and `DELETE /accounts/{id}` look for the accounts of a customer and
the purchases of an account (PostgreSQL also checks the purchases' foreign key when an account
row goes): `ix_accounts_customer` and `ix_purchases_account` make those probes, not scans.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from grantledger.store.types import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("auto_topups") as batch:
        batch.add_column(sa.Column("deleted_at", UTCDateTime(), nullable=True))
    op.create_index("ix_accounts_customer", "accounts", ["org_id", "customer_id"])
    op.create_index("ix_purchases_account", "purchases", ["org_id", "account_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_purchases_account", table_name="purchases")
    op.drop_index("ix_accounts_customer", table_name="accounts")
    # Deleted settings were absent before this revision: they go, then the column.
    op.execute(sa.text("DELETE FROM auto_topups WHERE deleted_at IS NOT NULL"))
    with op.batch_alter_table("auto_topups") as batch:
        batch.drop_column("deleted_at")
