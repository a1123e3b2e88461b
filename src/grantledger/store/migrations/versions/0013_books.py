"""The books: the journal, one appended row per movement of money or units, and the cost
basis of credits and of the credits auto top-ups grant (issue 22).

Revision ID: 0013
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

from grantledger.store.types import Money, UTCDateTime

revision = "0013"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "journal",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("org_id", sa.String(50), nullable=False),
        sa.Column("tx", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("customer_id", sa.String(255), nullable=True),
        sa.Column("account_id", sa.String(50), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("subject", sa.String(50), nullable=False),
        sa.Column("feature_id", sa.String(50), nullable=True),
        sa.Column("unit", sa.String(50), nullable=False),
        sa.Column("amount", Money(), nullable=False),
        sa.Column("held", Money(), nullable=False),
        sa.Column("balance_after", Money(), nullable=False),
        sa.Column("held_after", Money(), nullable=False),
        sa.Column("event_id", sa.String(512), nullable=True),
        sa.Column("invoice_id", sa.String(255), nullable=True),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("actor", sa.String(100), nullable=True),
        sa.Column("cost_basis", Money(), nullable=True),
    )
    with op.batch_alter_table("credits") as batch:
        batch.add_column(sa.Column("cost_basis", Money(), nullable=True))
    with op.batch_alter_table("auto_topups") as batch:
        batch.add_column(sa.Column("cost_basis", Money(), nullable=True))
    op.create_table(
        "audit_log",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("org_id", sa.String(50), nullable=False),
        sa.Column("tx", sa.BigInteger(), nullable=False),
        sa.Column("audit_id", sa.String(32), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("method", sa.String(10), nullable=False),
        sa.Column("route", sa.String(200), nullable=False),
        sa.Column("path", sa.String(1000), nullable=False),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("address", sa.String(100), nullable=True),
        sa.UniqueConstraint("org_id", "audit_id", name="uq_audit_log_audit_id"),
    )
    op.create_index("ix_audit_log_cursor", "audit_log", ["org_id", "tx", "seq"])
    op.create_index("ix_journal_cursor", "journal", ["org_id", "tx", "seq"])
    op.create_index("ix_journal_subject", "journal", ["org_id", "subject", "seq"])
    op.create_index("ix_journal_time", "journal", ["org_id", "occurred_at"])


def downgrade() -> None:
    with op.batch_alter_table("auto_topups") as batch:
        batch.drop_column("cost_basis")
    with op.batch_alter_table("credits") as batch:
        batch.drop_column("cost_basis")
    op.drop_table("journal")
    op.drop_table("audit_log")
