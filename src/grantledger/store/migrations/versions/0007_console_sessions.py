"""The admin console: sign-in sessions, the log of its actions, and the index its event log pages.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

from grantledger.store.types import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        # SHA-256 of the cookie's random token: a copy of this table signs no one in.
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("org_id", sa.String(50), sa.ForeignKey("organizations.id"), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "console_actions",
        sa.Column("id", sa.String(50), primary_key=True),
        sa.Column("org_id", sa.String(50), sa.ForeignKey("organizations.id"), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("account_id", sa.String(50), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_console_actions_account", "console_actions", ["org_id", "account_id", "id"])
    # The console pages an account's events newest first; without it that is a full scan.
    op.create_index("ix_console_events_account", "events", ["org_id", "account_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_console_events_account", table_name="events")
    op.drop_index("ix_console_actions_account", table_name="console_actions")
    op.drop_table("console_actions")
    op.drop_table("console_sessions")
