"""The index that finds the alerts watching an account.

Every change of a balance (each gate batch, each credit grant or debit) reads the ACTIVE alerts
of its accounts. Without this index that read went through every alert of the organization,
and under PostgreSQL's generic plan through every alert of the database: an organization with
an alert per account slowed every other organization's gate.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_alerts_watch", "alerts", ["org_id", "status", "account_id", "template_id"])


def downgrade() -> None:
    op.drop_index("ix_alerts_watch", table_name="alerts")
