"""The schema, as SQLAlchemy Core tables. Every tenant-owned row carries `org_id`."""

from __future__ import annotations

import sqlalchemy as sa

from grantledger.store.types import Money, UTCDateTime

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

server_secrets = sa.Table(
    "server_secrets",
    metadata,
    sa.Column("name", sa.String(50), primary_key=True),
    sa.Column("value", sa.String(200), nullable=False),
)

organizations = sa.Table(
    "organizations",
    metadata,
    sa.Column("id", sa.String(50), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("key_hash", sa.String(64), primary_key=True),
    sa.Column("org_id", sa.String(50), sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("name", sa.String(100), nullable=True),
    # A revoked key stays (its prefix names it in `keys list`) but authenticates no one.
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
)

customers = sa.Table(
    "customers",
    metadata,
    sa.Column("org_id", sa.String(50), sa.ForeignKey("organizations.id"), primary_key=True),
    sa.Column("id", sa.String(50), primary_key=True),
    sa.Column("togai_customer_id", sa.String(50), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("primary_email", sa.String(320), nullable=False),
    sa.Column("address", sa.JSON(), nullable=False),
    sa.Column("settings", sa.JSON(), nullable=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("org_id", sa.String(50), sa.ForeignKey("organizations.id"), primary_key=True),
    sa.Column("id", sa.String(50), primary_key=True),
    sa.Column("togai_account_id", sa.String(50), nullable=False),
    sa.Column("customer_id", sa.String(255), nullable=False),
    sa.Column("togai_customer_id", sa.String(50), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("invoice_currency", sa.String(3), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    # Togai fields grantledger stores and returns without acting on them.
    sa.Column("attributes", sa.JSON(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

credits = sa.Table(
    "credits",
    metadata,
    sa.Column("id", sa.String(50), primary_key=True),
    sa.Column("org_id", sa.String(50), sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("account_id", sa.String(50), nullable=False),
    sa.Column("customer_id", sa.String(255), nullable=False),
    sa.Column("purpose", sa.String(255), nullable=False),
    sa.Column("applicable_entity_ids", sa.JSON(), nullable=True),
    sa.Column("effective_from", sa.Date(), nullable=False),
    sa.Column("effective_until", sa.Date(), nullable=True),
    sa.Column("credit_amount", Money(), nullable=False),
    sa.Column("credit_unit", sa.String(3), nullable=False),
    sa.Column("priority", sa.Integer(), nullable=False),
    sa.Column("grantor_id", sa.String(255), nullable=True),
    sa.Column("idempotency_key", sa.String(255), nullable=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    # Caches of the ledger below; `grantledger verify` recomputes and compares them.
    sa.Column("consumed_amount", Money(), nullable=False),
    sa.Column("hold_amount", Money(), nullable=False),
    sa.Column("expired_amount", Money(), nullable=False),
    sa.Column("voided_amount", Money(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(["org_id", "account_id"], ["accounts.org_id", "accounts.id"]),
    sa.UniqueConstraint("org_id", "idempotency_key", name="uq_credits_idempotency_key"),
    sa.Index("ix_credits_org_account", "org_id", "account_id", "status"),
)

credit_transactions = sa.Table(
    "credit_transactions",
    metadata,
    sa.Column("id", sa.String(50), primary_key=True),
    sa.Column("org_id", sa.String(50), nullable=False),
    sa.Column("credit_id", sa.String(50), sa.ForeignKey("credits.id"), nullable=False),
    sa.Column("transaction_type", sa.String(20), nullable=False),
    sa.Column("amount", Money(), nullable=False),
    sa.Column("invoice_id", sa.String(255), nullable=True),
    sa.Column("entity_id", sa.String(255), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index("ix_credit_transactions_credit", "credit_id", "created_at"),
    sa.Index("ix_credit_transactions_kind_time", "credit_id", "transaction_type", "created_at"),
)

credit_holds = sa.Table(
    "credit_holds",
    metadata,
    sa.Column("id", sa.String(50), primary_key=True),
    sa.Column("org_id", sa.String(50), nullable=False),
    sa.Column("account_id", sa.String(50), nullable=False),
    sa.Column("invoice_id", sa.String(255), nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),  # HOLD or DEBIT
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("lines", sa.JSON(), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # HELD, CAPTURED, RELEASED
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("settled_at", UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(["org_id", "account_id"], ["accounts.org_id", "accounts.id"]),
    sa.UniqueConstraint("org_id", "account_id", "invoice_id", name="uq_credit_holds_invoice"),
)

credit_hold_allocations = sa.Table(
    "credit_hold_allocations",
    metadata,
    sa.Column("hold_id", sa.String(50), sa.ForeignKey("credit_holds.id"), primary_key=True),
    sa.Column("seq", sa.Integer(), primary_key=True),
    sa.Column("line_index", sa.Integer(), nullable=False),
    sa.Column("credit_id", sa.String(50), sa.ForeignKey("credits.id"), nullable=False),
    sa.Column("amount", Money(), nullable=False),
    sa.Index("ix_credit_hold_allocations_credit", "credit_id"),
)

# --- entitlements ----------------------------------------------------------------------------

event_schemas = sa.Table(
    "event_schemas",
    metadata,
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

features = sa.Table(
    "features",
    metadata,
    sa.Column("org_id", sa.String(50), sa.ForeignKey("organizations.id"), primary_key=True),
    sa.Column("id", sa.String(50), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("billable_name", sa.String(255), nullable=True),
    sa.Column("value_type", sa.String(20), nullable=False),
    sa.Column("allowed_values", sa.JSON(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

feature_schemas = sa.Table(
    "feature_schemas",
    metadata,
    sa.Column("org_id", sa.String(50), primary_key=True),
    sa.Column("feature_id", sa.String(50), primary_key=True),
    sa.Column("schema_name", sa.String(50), primary_key=True),
    sa.Column("attribute_name", sa.String(50), nullable=False),
    sa.Column("position", sa.Integer(), nullable=False),
    sa.Index("ix_feature_schemas_schema", "org_id", "schema_name"),
)

entitlement_plans = sa.Table(
    "entitlement_plans",
    metadata,
    sa.Column("org_id", sa.String(50), sa.ForeignKey("organizations.id"), primary_key=True),
    sa.Column("id", sa.String(50), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("type", sa.String(20), nullable=False),
    sa.Column("cycle", sa.String(20), nullable=False),
    sa.Column("features", sa.JSON(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

schedules = sa.Table(
    "schedules",
    metadata,
    sa.Column("id", sa.String(50), primary_key=True),
    sa.Column("org_id", sa.String(50), nullable=False),
    sa.Column("account_id", sa.String(50), nullable=False),
    sa.Column("plan_id", sa.String(50), nullable=False),
    sa.Column("effective_from", sa.Date(), nullable=False),
    sa.Column("effective_until", sa.Date(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("idempotency_key", sa.String(255), nullable=True),
    sa.Column("request_hash", sa.String(64), nullable=True),
    # Ids of the schedules whose running cycle's usage carries into this one's (plan change).
    sa.Column("replaces", sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(["org_id", "account_id"], ["accounts.org_id", "accounts.id"]),
    sa.Index("ix_schedules_account", "org_id", "account_id"),
    sa.UniqueConstraint("org_id", "idempotency_key", name="uq_schedules_idempotency_key"),
)

purchases = sa.Table(
    "purchases",
    metadata,
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
    sa.Column("quantity", sa.Integer(), nullable=True),
    sa.Column("type", sa.String(20), nullable=True),
    sa.Column("expiry_date", UTCDateTime(), nullable=True),
    # Togai fields stored and echoed without meaning here (overrides, wallet top-up details),
    # as canonical JSON text so their numbers keep every digit.
    sa.Column("options", sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(["org_id", "account_id"], ["accounts.org_id", "accounts.id"]),
    sa.UniqueConstraint("org_id", "idempotency_key", name="uq_purchases_idempotency_key"),
)

feature_entries = sa.Table(
    "feature_entries",
    metadata,
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
    sa.Column("used", Money(), nullable=False),  # cache of carried + Σ draws; verified
    # Usage carried from the cycle a plan change cut short (part of `used`, with no draw).
    sa.Column("carried", Money(), nullable=True),
    sa.Column("voided_at", UTCDateTime(), nullable=True),
    sa.Column("idempotency_key", sa.String(255), nullable=True),
    sa.Column("request_hash", sa.String(64), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("org_id", "idempotency_key", name="uq_feature_entries_idempotency_key"),
    sa.Index("ix_feature_entries_window", "org_id", "account_id", "feature_id", "effective_until"),
)

feature_entry_changes = sa.Table(
    "feature_entry_changes",
    metadata,
    sa.Column("id", sa.String(50), primary_key=True),
    sa.Column("org_id", sa.String(50), nullable=False),
    sa.Column("account_id", sa.String(50), nullable=False),
    sa.Column("feature_id", sa.String(50), nullable=False),
    sa.Column("entry_id", sa.String(50), nullable=False),
    sa.Column("change", sa.String(20), nullable=False),  # PATCH, VOID or CLOSE (plan change)
    sa.Column("before", sa.JSON(), nullable=False),
    sa.Column("after", sa.JSON(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index("ix_feature_entry_changes_entry", "org_id", "account_id", "feature_id"),
)

entitlement_values = sa.Table(
    "entitlement_values",
    metadata,
    sa.Column("org_id", sa.String(50), primary_key=True),
    sa.Column("account_id", sa.String(50), primary_key=True),
    sa.Column("feature_id", sa.String(50), primary_key=True),
    sa.Column("value", sa.String(255), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

event_ids = sa.Table(
    "event_ids",
    metadata,
    sa.Column("org_id", sa.String(50), primary_key=True),
    sa.Column("event_id", sa.String(512), primary_key=True),
    sa.Column("received_at", UTCDateTime(), nullable=False),
)

events = sa.Table(
    "events",
    metadata,
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
    sa.Index("ix_events_event_id", "org_id", "event_id"),
    # The console pages an account's events newest first (migration 0007).
    sa.Index("ix_console_events_account", "org_id", "account_id", "id"),
)

draws = sa.Table(
    "draws",
    metadata,
    sa.Column("event_pk", sa.String(50), sa.ForeignKey("events.id"), primary_key=True),
    sa.Column("seq", sa.Integer(), primary_key=True),
    sa.Column("org_id", sa.String(50), nullable=False),
    sa.Column("account_id", sa.String(50), nullable=False),
    sa.Column("feature_id", sa.String(50), nullable=False),
    sa.Column("entry_id", sa.String(50), nullable=False),
    sa.Column("amount", Money(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index("ix_draws_entry", "org_id", "account_id", "feature_id", "entry_id"),
    sa.Index("ix_draws_feature_time", "org_id", "account_id", "feature_id", "created_at"),
)

# --- alerts, webhooks, auto top-up (notifications) -------------------------------------------

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
    sa.ForeignKeyConstraint(["org_id", "account_id"], ["accounts.org_id", "accounts.id"]),
)

# --- the admin console (migration 0007) --------------------------------------------------------

console_sessions = sa.Table(
    "console_sessions",
    metadata,
    # SHA-256 of the cookie's random token: a copy of this table signs no one in.
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("org_id", sa.String(50), sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
)

console_actions = sa.Table(
    "console_actions",
    metadata,
    sa.Column("id", sa.String(50), primary_key=True),
    sa.Column("org_id", sa.String(50), sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("account_id", sa.String(50), nullable=False),
    sa.Column("target", sa.String(255), nullable=False),
    sa.Column("detail", sa.JSON(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index("ix_console_actions_account", "org_id", "account_id", "id"),
)
