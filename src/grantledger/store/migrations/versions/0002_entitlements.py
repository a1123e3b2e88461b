"""Entitlements: event schemas, features, plans, schedules, purchases, entries, events, draws.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from grantledger.store.types import Money, UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_schemas",
        sa.Column("org_id", sa.String(50), sa.ForeignKey("organizations.id"), primary_key=True),
        sa.Column("name", sa.String(50), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(255), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("dimensions", sa.JSON(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "features",
        sa.Column("org_id", sa.String(50), sa.ForeignKey("organizations.id"), primary_key=True),
        sa.Column("id", sa.String(50), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("billable_name", sa.String(255), nullable=True),
        sa.Column("value_type", sa.String(20), nullable=False),
        sa.Column("allowed_values", sa.JSON(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "feature_schemas",
        sa.Column("org_id", sa.String(50), primary_key=True),
        sa.Column("feature_id", sa.String(50), primary_key=True),
        sa.Column("schema_name", sa.String(50), primary_key=True),
        sa.Column("attribute_name", sa.String(50), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
    )
    op.create_index("ix_feature_schemas_schema", "feature_schemas", ["org_id", "schema_name"])
    op.create_table(
        "entitlement_plans",
        sa.Column("org_id", sa.String(50), sa.ForeignKey("organizations.id"), primary_key=True),
        sa.Column("id", sa.String(50), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("cycle", sa.String(20), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "schedules",
        sa.Column("id", sa.String(50), primary_key=True),
        sa.Column("org_id", sa.String(50), nullable=False),
        sa.Column("account_id", sa.String(50), nullable=False),
        sa.Column("plan_id", sa.String(50), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("effective_until", sa.Date(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["org_id", "account_id"], ["accounts.org_id", "accounts.id"]),
    )
    op.create_index("ix_schedules_account", "schedules", ["org_id", "account_id"])
    op.create_table(
        "purchases",
        sa.Column("id", sa.String(50), primary_key=True),
        sa.Column("org_id", sa.String(50), nullable=False),
        sa.Column("account_id", sa.String(50), nullable=False),
        sa.Column("plan_id", sa.String(50), nullable=False),
        sa.Column("rate_card_quantities", sa.JSON(), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=True),
        sa.Column("effective_until", sa.Date(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["org_id", "account_id"], ["accounts.org_id", "accounts.id"]),
        sa.UniqueConstraint("org_id", "idempotency_key", name="uq_purchases_idempotency_key"),
    )
    op.create_table(
        "feature_entries",
        sa.Column("org_id", sa.String(50), primary_key=True),
        sa.Column("account_id", sa.String(50), primary_key=True),
        sa.Column("feature_id", sa.String(50), primary_key=True),
        sa.Column("id", sa.String(50), primary_key=True),
        # Time-ordered key for "newest first" pages.
        sa.Column("row_key", sa.String(50), nullable=False, unique=True),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("effective_from", UTCDateTime(), nullable=False),
        sa.Column("effective_until", UTCDateTime(), nullable=True),
        sa.Column("granted", Money(), nullable=False),
        sa.Column("used", Money(), nullable=False),  # cache of Σ draws; verified
        sa.Column("voided_at", UTCDateTime(), nullable=True),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("org_id", "idempotency_key", name="uq_feature_entries_idempotency_key"),
    )
    op.create_index(
        "ix_feature_entries_window",
        "feature_entries",
        ["org_id", "account_id", "feature_id", "effective_until"],
    )
    op.create_table(
        "feature_entry_changes",
        sa.Column("id", sa.String(50), primary_key=True),
        sa.Column("org_id", sa.String(50), nullable=False),
        sa.Column("account_id", sa.String(50), nullable=False),
        sa.Column("feature_id", sa.String(50), nullable=False),
        sa.Column("entry_id", sa.String(50), nullable=False),
        sa.Column("change", sa.String(20), nullable=False),  # PATCH or VOID
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ix_feature_entry_changes_entry",
        "feature_entry_changes",
        ["org_id", "account_id", "feature_id"],
    )
    op.create_table(
        "entitlement_values",
        sa.Column("org_id", sa.String(50), primary_key=True),
        sa.Column("account_id", sa.String(50), primary_key=True),
        sa.Column("feature_id", sa.String(50), primary_key=True),
        sa.Column("value", sa.String(255), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "event_ids",
        sa.Column("org_id", sa.String(50), primary_key=True),
        sa.Column("event_id", sa.String(512), primary_key=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.String(50), primary_key=True),
        sa.Column("org_id", sa.String(50), nullable=False),
        sa.Column("event_id", sa.String(512), nullable=False),
        sa.Column("account_id", sa.String(512), nullable=False),
        sa.Column("schema_name", sa.String(50), nullable=False),
        sa.Column("timestamp", UTCDateTime(), nullable=False),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "draws",
        sa.Column("event_pk", sa.String(50), sa.ForeignKey("events.id"), primary_key=True),
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("org_id", sa.String(50), nullable=False),
        sa.Column("account_id", sa.String(50), nullable=False),
        sa.Column("feature_id", sa.String(50), nullable=False),
        sa.Column("entry_id", sa.String(50), nullable=False),
        sa.Column("amount", Money(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_draws_entry", "draws", ["org_id", "account_id", "feature_id", "entry_id"])


def downgrade() -> None:
    for table in (
        "draws",
        "events",
        "event_ids",
        "entitlement_values",
        "feature_entry_changes",
        "feature_entries",
        "purchases",
        "schedules",
        "entitlement_plans",
        "feature_schemas",
        "features",
        "event_schemas",
    ):
        op.drop_table(table)
