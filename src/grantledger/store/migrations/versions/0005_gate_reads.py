"""Indexes of the group-committed gate and of reads flat in history.

`ix_events_event_id` finds how a duplicate event id was decided (its 409 says so);
`ix_draws_feature_time` and `ix_credit_transactions_kind_time` find the draws of an account's
feature and the debits of a credit made after an instant, so an `asOf` read undoes the few
since then instead of adding up every one ever made.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_event_id", "events", ["org_id", "event_id"])
    op.create_index(
        "ix_draws_feature_time", "draws", ["org_id", "account_id", "feature_id", "created_at"]
    )
    op.create_index(
        "ix_credit_transactions_kind_time",
        "credit_transactions",
        ["credit_id", "transaction_type", "created_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_credit_transactions_kind_time", table_name="credit_transactions")
    op.drop_index("ix_draws_feature_time", table_name="draws")
    op.drop_index("ix_events_event_id", table_name="events")
