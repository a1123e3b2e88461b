"""Alerts and incidents, the webhook outbox, auto top-ups."""

from __future__ import annotations

import sqlalchemy as sa

from grantledger.store.tables.base import metadata
from grantledger.store.types import Money, UTCDateTime

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("org_id", sa.String(50), sa.ForeignKey("organizations.id"), primary_key=True),
    sa.Column("id", sa.String(50), primary_key=True),
    sa.Column("template_id", sa.String(50), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("description", sa.String(255), nullable=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("interval", sa.Integer(), nullable=False),
    sa.Column("validity", sa.Integer(), nullable=True),
    # The account (or null: every account) and the feature the alert watches.
    sa.Column("account_id", sa.String(50), nullable=True),
    sa.Column("feature_id", sa.String(50), nullable=True),
    sa.Column("threshold", Money(), nullable=True),
    sa.Column("window_days", sa.Integer(), nullable=True),
    sa.Column("owner_details", sa.JSON(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    # Every change of a balance reads the alerts watching its account (migration 0008).
    sa.Index("ix_alerts_watch", "org_id", "status", "account_id", "template_id"),
)

# One row per (alert, subject) ever evaluated: the incident its condition currently holds open.
# The primary key is what makes 300 racing crossings open one incident.
alert_states = sa.Table(
    "alert_states",
    metadata,
    sa.Column("org_id", sa.String(50), primary_key=True),
    sa.Column("alert_id", sa.String(50), primary_key=True),
    sa.Column("subject_id", sa.String(120), primary_key=True),
    sa.Column("incident_id", sa.String(50), nullable=True),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

incidents = sa.Table(
    "incidents",
    metadata,
    sa.Column("org_id", sa.String(50), primary_key=True),
    sa.Column("id", sa.String(50), primary_key=True),
    sa.Column("alert_id", sa.String(50), nullable=False),
    sa.Column("alert_version", sa.Integer(), nullable=False),
    sa.Column("template_id", sa.String(50), nullable=False),
    sa.Column("subject_id", sa.String(120), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # OPEN, RESOLVED, CLOSED
    sa.Column("report_data", sa.JSON(), nullable=False),
    sa.Column("valid_until", UTCDateTime(), nullable=True),
    sa.Column("last_checked_at", UTCDateTime(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Index("ix_incidents_alert", "org_id", "alert_id"),
)

webhook_endpoints = sa.Table(
    "webhook_endpoints",
    metadata,
    sa.Column("org_id", sa.String(50), sa.ForeignKey("organizations.id"), primary_key=True),
    sa.Column("id", sa.String(50), primary_key=True),
    sa.Column("url", sa.String(2048), nullable=False),
    sa.Column("description", sa.String(255), nullable=True),
    sa.Column("event_types", sa.JSON(), nullable=True),  # null: every event type
    sa.Column("status", sa.String(20), nullable=False),
    # The signing secret, encrypted with the server key (not in the database).
    sa.Column("secret_sealed", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

# The transactional outbox: one row per (event, endpoint), written in the ledger's transaction.
webhook_messages = sa.Table(
    "webhook_messages",
    metadata,
    sa.Column("id", sa.String(50), primary_key=True),  # the webhook-id
    sa.Column("org_id", sa.String(50), nullable=False),
    sa.Column("endpoint_id", sa.String(50), nullable=False),
    sa.Column("event_type", sa.String(50), nullable=False),
    sa.Column("body", sa.Text(), nullable=False),  # the exact bytes signed and sent
    sa.Column("status", sa.String(20), nullable=False),  # PENDING, DELIVERED, FAILED
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("last_status_code", sa.Integer(), nullable=True),
    sa.Column("last_attempt_at", UTCDateTime(), nullable=True),
    sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index("ix_webhook_messages_due", "status", "next_attempt_at"),
    sa.Index("ix_webhook_messages_endpoint", "org_id", "endpoint_id", "id"),
)

# Which once-only facts (a credit granted, consumed, ...) have been announced already.
notify_marks = sa.Table(
    "notify_marks",
    metadata,
    sa.Column("org_id", sa.String(50), primary_key=True),
    sa.Column("kind", sa.String(50), primary_key=True),
    sa.Column("object_id", sa.String(120), primary_key=True),
)

auto_topups = sa.Table(
    "auto_topups",
    metadata,
    sa.Column("org_id", sa.String(50), primary_key=True),
    sa.Column("account_id", sa.String(50), primary_key=True),
    sa.Column("threshold_amount", Money(), nullable=False),
    sa.Column("topup_amount", Money(), nullable=False),
    sa.Column("effective_days", sa.Integer(), nullable=True),
    sa.Column("priority", sa.Integer(), nullable=False),
    sa.Column("max_per_month", sa.Integer(), nullable=False),
    sa.Column("below", sa.Boolean(), nullable=False),  # the balance is under the threshold now
    sa.Column("crossings", sa.Integer(), nullable=False),
    sa.Column("month", sa.String(7), nullable=False),  # YYYY-MM of `month_count`
    sa.Column("month_count", sa.Integer(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    # The cost basis of the credits it grants (migration 0013); NULL: not known.
    sa.Column("cost_basis", Money(), nullable=True),
    # Set by DELETE: the setting is gone, but its counters stay for the next PUT (migration
    # 0009), so top-up keys never repeat and the monthly cap cannot be reset by re-configuring.
    sa.Column("deleted_at", UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(["org_id", "account_id"], ["accounts.org_id", "accounts.id"]),
)

# --- the admin console (migration 0007) --------------------------------------------------------
