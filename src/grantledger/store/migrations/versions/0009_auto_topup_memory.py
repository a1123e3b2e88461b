"""Auto top-up settings are kept when deleted, so their counters survive re-configuration.

`DELETE /accounts/{id}/auto_topup` used to remove the row, and with it the crossing counter
(from which each top-up's idempotency key is derived) and the month's top-up count: a later
`PUT` started both from 0, the next top-up's key collided with an earlier top-up's credit and
every write crossing the threshold answered 503, and the monthly cap could be reset at will.
A deleted setting now keeps its row, marked `deleted_at`; `PUT` brings it back with its
counters. Existing rows are all live (NULL): nothing else to migrate. A counter already reset
by an earlier delete is healed on its next top-up, which steps past every key in use.

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


def downgrade() -> None:
    # Deleted settings were absent before this revision: they go, then the column.
    op.execute(sa.text("DELETE FROM auto_topups WHERE deleted_at IS NOT NULL"))
    with op.batch_alter_table("auto_topups") as batch:
        batch.drop_column("deleted_at")
