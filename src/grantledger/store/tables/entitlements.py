"""Event schemas, features, plans, schedules, purchases, feature entries, events and draws."""

from __future__ import annotations

import sqlalchemy as sa

from grantledger.store.tables.base import metadata
from grantledger.store.types import Money, UTCDateTime

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
    # Days after a cycle closes during which an event stamped in it is still judged (0010).
    sa.Column("grace_period_days", sa.Integer(), nullable=True),
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
    # Ids of the schedules a change from a later day replaced (kept for the record).
    sa.Column("replaces", sa.JSON(), nullable=True),
    # Where cycles are counted from when not `effective_from`: a plan resumed after a
    # temporary one keeps its original schedule's anchor (migration 0010).
    sa.Column("anchor", sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(["org_id", "account_id"], ["accounts.org_id", "accounts.id"]),
    sa.Index("ix_schedules_account", "org_id", "account_id"),
    sa.UniqueConstraint("org_id", "idempotency_key", name="uq_schedules_idempotency_key"),
)

# Each end a plan change gave a schedule (its end before and after), so a read `asOf` an
# earlier instant sees the schedules as they stood then (migration 0010).
schedule_changes = sa.Table(
    "schedule_changes",
    metadata,
    sa.Column("id", sa.String(50), primary_key=True),
    sa.Column("org_id", sa.String(50), nullable=False),
    sa.Column("account_id", sa.String(50), nullable=False),
    sa.Column("schedule_id", sa.String(50), nullable=False),
    sa.Column("until_before", sa.Date(), nullable=True),
    sa.Column("until_after", sa.Date(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index("ix_schedule_changes_account", "org_id", "account_id", "created_at"),
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
    # An account's purchases: its list, and what a deletion of the account checks (migration
    # 0009; PostgreSQL checks the foreign key through it too).
    sa.Index("ix_purchases_account", "org_id", "account_id", "id"),
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
    sa.Column("used", Money(), nullable=False),  # cache of Σ own draws; verified
    # No longer written (0): a plan cycle's usage is its window's (migration 0010).
    sa.Column("carried", Money(), nullable=True),
    sa.Column("voided_at", UTCDateTime(), nullable=True),
    sa.Column("idempotency_key", sa.String(255), nullable=True),
    sa.Column("request_hash", sa.String(64), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("org_id", "idempotency_key", name="uq_feature_entries_idempotency_key"),
    sa.Index("ix_feature_entries_window", "org_id", "account_id", "feature_id", "effective_until"),
    # The gate locks an account's ROLLOVER entries with the others (migration 0010).
    sa.Index(
        "ix_feature_entries_rollover",
        "org_id",
        "account_id",
        "feature_id",
        postgresql_where=sa.text("source = 'ROLLOVER'"),
        sqlite_where=sa.text("source = 'ROLLOVER'"),
    ),
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
    # Which door judged it: ENTITLED (NULL, rows from before migration 0011) or INGEST.
    sa.Column("source", sa.String(20), nullable=True),
    # What an ingested event's entries could not cover, by feature (recorded, never refused).
    sa.Column("shortfall", sa.JSON(), nullable=True),
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
    # The event's timestamp: the usage window the draw counts in (migration 0010).
    sa.Column("occurred_at", UTCDateTime(), nullable=False),
    # Drawn from a plan's allowance (a PRICE_PLAN or OVERAGE entry): part of its window's usage.
    sa.Column("plan", sa.Boolean(), nullable=False),
    sa.Index("ix_draws_entry", "org_id", "account_id", "feature_id", "entry_id"),
    sa.Index("ix_draws_feature_time", "org_id", "account_id", "feature_id", "created_at"),
    sa.Index("ix_draws_window", "org_id", "account_id", "feature_id", "occurred_at"),
)

# The usage of each (account, feature, usage window): Σ plan draws dated in the window
# (domain/windows.py). A cache of the draws, made when first needed and verified; a row whose
# window the schedules no longer draw (a plan change moved it) is made again.
plan_usage = sa.Table(
    "plan_usage",
    metadata,
    sa.Column("org_id", sa.String(50), primary_key=True),
    sa.Column("account_id", sa.String(50), primary_key=True),
    sa.Column("feature_id", sa.String(50), primary_key=True),
    sa.Column("window_start", UTCDateTime(), primary_key=True),
    sa.Column("window_end", UTCDateTime(), nullable=True),
    sa.Column("used", Money(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

# --- alerts, webhooks, auto top-up (notifications) -------------------------------------------

# One row per corrected event (its primary key is where concurrent corrections of one event
# meet: it is reverted once): the action, the event that replaced it (REDO), who did it.
event_corrections = sa.Table(
    "event_corrections",
    metadata,
    sa.Column("org_id", sa.String(50), primary_key=True),
    sa.Column("event_pk", sa.String(50), primary_key=True),
    sa.Column("action", sa.String(20), nullable=False),
    sa.Column("replacement_pk", sa.String(50), nullable=True),
    sa.Column("actor", sa.String(100), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

# The appended reversal of each draw of a corrected event: the draw stays, and an entry's
# `used` is Σ draws - Σ reversals (migration 0011).
reversals = sa.Table(
    "reversals",
    metadata,
    sa.Column("org_id", sa.String(50), primary_key=True),
    sa.Column("event_pk", sa.String(50), primary_key=True),
    sa.Column("seq", sa.Integer(), primary_key=True),
    sa.Column("account_id", sa.String(50), nullable=False),
    sa.Column("feature_id", sa.String(50), nullable=False),
    sa.Column("entry_id", sa.String(50), nullable=False),
    sa.Column("amount", Money(), nullable=False),
    sa.Column("occurred_at", UTCDateTime(), nullable=False),
    sa.Column("plan", sa.Boolean(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index("ix_reversals_entry", "org_id", "account_id", "feature_id", "entry_id"),
    sa.Index("ix_reversals_feature_time", "org_id", "account_id", "feature_id", "created_at"),
    sa.Index("ix_reversals_window", "org_id", "account_id", "feature_id", "occurred_at"),
)

# Feature holds (migration 0012): units reserved by a hold event's draws until settled,
# released or past `expires_at`. The caller's id is unique per account (its idempotency key).
feature_holds = sa.Table(
    "feature_holds",
    metadata,
    sa.Column("org_id", sa.String(50), primary_key=True),
    sa.Column("pk", sa.String(50), primary_key=True),  # time-ordered: the list's key
    sa.Column("account_id", sa.String(50), nullable=False),
    sa.Column("hold_id", sa.String(255), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    # {feature id: units} as canonical decimal text: held, settled (actual) and not covered.
    sa.Column("units", sa.JSON(), nullable=False),
    sa.Column("settled", sa.JSON(), nullable=True),
    sa.Column("shortfall", sa.JSON(), nullable=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("event_pk", sa.String(50), nullable=False),  # the hold event (its draws)
    sa.Column("settle_event_pk", sa.String(50), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Column("closed_at", UTCDateTime(), nullable=True),
    sa.UniqueConstraint("org_id", "account_id", "hold_id", name="uq_feature_holds_hold_id"),
    sa.Index("ix_feature_holds_account", "org_id", "account_id", "pk"),
    # What the sweeper and the writers look for: HELD holds past their limit.
    sa.Index(
        "ix_feature_holds_open",
        "org_id",
        "account_id",
        "expires_at",
        postgresql_where=sa.text("status = 'HELD'"),
        sqlite_where=sa.text("status = 'HELD'"),
    ),
)
