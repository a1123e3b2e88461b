"""The schema, as SQLAlchemy Core tables. Every tenant-owned row carries `org_id`."""

from __future__ import annotations

# One module per area; every table is importable from here, as before.
from grantledger.store.tables.base import metadata
from grantledger.store.tables.books import audit_log, journal
from grantledger.store.tables.console import (
    console_actions,
    console_sessions,
)
from grantledger.store.tables.entitlements import (
    draws,
    entitlement_plans,
    entitlement_values,
    event_corrections,
    event_ids,
    event_schemas,
    events,
    feature_entries,
    feature_entry_changes,
    feature_holds,
    feature_schemas,
    features,
    plan_usage,
    purchases,
    reversals,
    schedule_changes,
    schedules,
)
from grantledger.store.tables.ledger import (
    accounts,
    api_keys,
    credit_hold_allocations,
    credit_holds,
    credit_transactions,
    credits,
    customers,
    organizations,
    server_secrets,
)
from grantledger.store.tables.notifications import (
    alert_states,
    alerts,
    auto_topups,
    incidents,
    notify_marks,
    webhook_endpoints,
    webhook_messages,
)

__all__ = [
    "accounts",
    "alert_states",
    "alerts",
    "api_keys",
    "audit_log",
    "auto_topups",
    "console_actions",
    "console_sessions",
    "credit_hold_allocations",
    "credit_holds",
    "credit_transactions",
    "credits",
    "customers",
    "draws",
    "entitlement_plans",
    "entitlement_values",
    "event_corrections",
    "event_ids",
    "event_schemas",
    "events",
    "feature_entries",
    "feature_entry_changes",
    "feature_holds",
    "feature_schemas",
    "features",
    "incidents",
    "journal",
    "metadata",
    "notify_marks",
    "organizations",
    "plan_usage",
    "purchases",
    "reversals",
    "schedule_changes",
    "schedules",
    "server_secrets",
    "webhook_endpoints",
    "webhook_messages",
]
