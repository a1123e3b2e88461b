"""Indexes of the group-committed gate and of reads flat in history.

`ix_events_event_id` finds how a duplicate event id was decided (its 409 says so);
`ix_draws_feature_time` finds the draws of an account's feature made after an instant, so an
`asOf` read undoes the few draws since then instead of adding up every draw ever made.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_event_id", "events", ["org_id", "event_id"])
    op.create_index(
        "ix_draws_feature_time", "draws", ["org_id", "account_id", "feature_id", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_draws_feature_time", table_name="draws")
    op.drop_index("ix_events_event_id", table_name="events")
