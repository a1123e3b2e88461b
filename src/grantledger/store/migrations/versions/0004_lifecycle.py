"""Plan and purchase lifecycle: idempotent plan assignments that carry usage across a plan
change, and purchases that keep every field of Togai's CreatePurchaseRequest.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from grantledger.store.types import Money, UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("schedules") as batch:
        batch.add_column(sa.Column("idempotency_key", sa.String(255), nullable=True))
        batch.add_column(sa.Column("request_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("replaces", sa.JSON(), nullable=True))
        batch.create_unique_constraint(
            "uq_schedules_idempotency_key", ["org_id", "idempotency_key"]
        )
    with op.batch_alter_table("feature_entries") as batch:
        batch.add_column(sa.Column("carried", Money(), nullable=True))
    with op.batch_alter_table("purchases") as batch:
        batch.add_column(sa.Column("quantity", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("type", sa.String(20), nullable=True))
        batch.add_column(sa.Column("expiry_date", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("options", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("purchases") as batch:
        batch.drop_column("options")
        batch.drop_column("expiry_date")
        batch.drop_column("type")
        batch.drop_column("quantity")
    with op.batch_alter_table("feature_entries") as batch:
        batch.drop_column("carried")
    with op.batch_alter_table("schedules") as batch:
        batch.drop_constraint("uq_schedules_idempotency_key", type_="unique")
        batch.drop_column("replaces")
        batch.drop_column("request_hash")
        batch.drop_column("idempotency_key")
