"""A cycle's usage as one figure per usage window, made from the draws.

- `draws.occurred_at` (the event's timestamp: which window a draw counts in) and `draws.plan`
  (drawn from a plan's allowance), filled from the events and entries already there; and the
  index that sums a window's plan draws.
- `plan_usage`: the usage of each (account, feature, usage window), a cache of those sums.
  Empty here: each row is made from the draws when first needed.
- `schedules.anchor`: where a schedule's cycles are counted from (a resumed plan keeps its
  month); `schedule_changes`: each end a plan change gave a schedule, so `asOf` sees the
  schedules as they stood; `entitlement_plans.grace_period_days`.
- Plan entries no longer copy usage across a plan change: a cycle's usage is the window's.
  What an entry had `carried` leaves its `used`, which is again exactly its own draws.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

from grantledger.store.types import Money, UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("draws") as batch:
        batch.add_column(sa.Column("occurred_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("plan", sa.Boolean(), nullable=True))
    op.execute(
        "UPDATE draws SET occurred_at = "
        "(SELECT e.timestamp FROM events AS e WHERE e.id = draws.event_pk)"
    )
    op.execute(
        "UPDATE draws SET plan = EXISTS (SELECT 1 FROM feature_entries AS fe "
        "WHERE fe.org_id = draws.org_id AND fe.account_id = draws.account_id "
        "AND fe.feature_id = draws.feature_id AND fe.id = draws.entry_id "
        "AND fe.source IN ('PRICE_PLAN', 'OVERAGE'))"
    )
    with op.batch_alter_table("draws") as batch:
        batch.alter_column("occurred_at", existing_type=UTCDateTime(), nullable=False)
        batch.alter_column("plan", existing_type=sa.Boolean(), nullable=False)
    op.create_index(
        "ix_draws_window", "draws", ["org_id", "account_id", "feature_id", "occurred_at"]
    )
    op.create_table(
        "plan_usage",
        sa.Column("org_id", sa.String(50), primary_key=True),
        sa.Column("account_id", sa.String(50), primary_key=True),
        sa.Column("feature_id", sa.String(50), primary_key=True),
        sa.Column("window_start", UTCDateTime(), primary_key=True),
        sa.Column("window_end", UTCDateTime(), nullable=True),
        sa.Column("used", Money(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    with op.batch_alter_table("schedules") as batch:
        batch.add_column(sa.Column("anchor", sa.Date(), nullable=True))
    op.create_table(
        "schedule_changes",
        sa.Column("id", sa.String(50), primary_key=True),
        sa.Column("org_id", sa.String(50), nullable=False),
        sa.Column("account_id", sa.String(50), nullable=False),
        sa.Column("schedule_id", sa.String(50), nullable=False),
        sa.Column("until_before", sa.Date(), nullable=True),
        sa.Column("until_after", sa.Date(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ix_schedule_changes_account", "schedule_changes", ["org_id", "account_id", "created_at"]
    )
    with op.batch_alter_table("entitlement_plans") as batch:
        batch.add_column(sa.Column("grace_period_days", sa.Integer(), nullable=True))
    op.create_index(
        "ix_feature_entries_rollover",
        "feature_entries",
        ["org_id", "account_id", "feature_id"],
        postgresql_where=sa.text("source = 'ROLLOVER'"),
        sqlite_where=sa.text("source = 'ROLLOVER'"),
    )
    op.execute(
        "UPDATE feature_entries SET used = used - carried, carried = 0 "
        "WHERE carried IS NOT NULL AND carried <> 0"
    )


def downgrade() -> None:
    op.drop_index("ix_feature_entries_rollover", table_name="feature_entries")
    with op.batch_alter_table("entitlement_plans") as batch:
        batch.drop_column("grace_period_days")
    op.drop_index("ix_schedule_changes_account", table_name="schedule_changes")
    op.drop_table("schedule_changes")
    with op.batch_alter_table("schedules") as batch:
        batch.drop_column("anchor")
    op.drop_table("plan_usage")
    op.drop_index("ix_draws_window", table_name="draws")
    with op.batch_alter_table("draws") as batch:
        batch.drop_column("plan")
        batch.drop_column("occurred_at")
