"""Usage recorded and taken back: the door that judged an event and what an ingested event
could not cover; corrected events and the appended reversals of their draws.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

from grantledger.store.types import Money, UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("source", sa.String(20), nullable=True))
        batch.add_column(sa.Column("shortfall", sa.JSON(), nullable=True))
    op.create_table(
        "event_corrections",
        sa.Column("org_id", sa.String(50), primary_key=True),
        sa.Column("event_pk", sa.String(50), primary_key=True),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("replacement_pk", sa.String(50), nullable=True),
        sa.Column("actor", sa.String(100), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "reversals",
        sa.Column("org_id", sa.String(50), primary_key=True),
        sa.Column("event_pk", sa.String(50), primary_key=True),
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("account_id", sa.String(50), nullable=False),
        sa.Column("feature_id", sa.String(50), nullable=False),
        sa.Column("entry_id", sa.String(50), nullable=False),
        sa.Column("amount", Money(), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("plan", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    for name, columns in (
        ("ix_reversals_entry", ["org_id", "account_id", "feature_id", "entry_id"]),
        ("ix_reversals_feature_time", ["org_id", "account_id", "feature_id", "created_at"]),
        ("ix_reversals_window", ["org_id", "account_id", "feature_id", "occurred_at"]),
    ):
        op.create_index(name, "reversals", columns)


def downgrade() -> None:
    op.drop_table("reversals")
    op.drop_table("event_corrections")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("shortfall")
        batch.drop_column("source")
