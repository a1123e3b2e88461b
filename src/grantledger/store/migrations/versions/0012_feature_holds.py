"""Feature holds: units reserved for a bounded time, then settled, released or expired; and
the same time limit, optional, on credit holds.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

from grantledger.store.types import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("credit_holds") as batch:
        batch.add_column(sa.Column("expires_at", UTCDateTime(), nullable=True))
    op.create_index(
        "ix_credit_holds_lapsing",
        "credit_holds",
        ["expires_at"],
        postgresql_where=sa.text("status = 'HELD' AND expires_at IS NOT NULL"),
        sqlite_where=sa.text("status = 'HELD' AND expires_at IS NOT NULL"),
    )
    op.create_table(
        "feature_holds",
        sa.Column("org_id", sa.String(50), primary_key=True),
        sa.Column("pk", sa.String(50), primary_key=True),
        sa.Column("account_id", sa.String(50), nullable=False),
        sa.Column("hold_id", sa.String(255), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("units", sa.JSON(), nullable=False),
        sa.Column("settled", sa.JSON(), nullable=True),
        sa.Column("shortfall", sa.JSON(), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("event_pk", sa.String(50), nullable=False),
        sa.Column("settle_event_pk", sa.String(50), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("org_id", "account_id", "hold_id", name="uq_feature_holds_hold_id"),
    )
    op.create_index("ix_feature_holds_account", "feature_holds", ["org_id", "account_id", "pk"])
    op.create_index(
        "ix_feature_holds_open",
        "feature_holds",
        ["org_id", "account_id", "expires_at"],
        postgresql_where=sa.text("status = 'HELD'"),
        sqlite_where=sa.text("status = 'HELD'"),
    )


def downgrade() -> None:
    op.drop_table("feature_holds")
    op.drop_index("ix_credit_holds_lapsing", "credit_holds")
    with op.batch_alter_table("credit_holds") as batch:
        batch.drop_column("expires_at")
