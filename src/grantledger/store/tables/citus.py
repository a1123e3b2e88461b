"""Which tables Citus would distribute by organization, and why the others are not.

Every table not named here is a tenant table: its rows belong to one organization, it has an
`org_id` column, and its primary key, unique constraints and foreign keys all include it
(migration 0014; tests/api/test_org_keys.py reads PostgreSQL's catalog and holds every table
to it). These are global by nature: distributing them by organization would be wrong, each for
the reason given (docs/scale-out.md has the Citus commands).
"""

from __future__ import annotations

# table → (Citus kind, reason)
GLOBAL_TABLES: dict[str, tuple[str, str]] = {
    "organizations": (
        "reference",
        "the tenants themselves; every tenant table's foreign key to it is checked on each node",
    ),
    "api_keys": (
        "reference",
        "looked up by the key's hash before the organization is known (the API's door)",
    ),
    "console_sessions": (
        "reference",
        "looked up by the session token's hash before the organization is known",
    ),
    "server_secrets": (
        "reference",
        "secrets of the whole deployment (page tokens, webhook sealing), read by every node",
    ),
    "webhook_messages": (
        "local",
        "the outbox: the delivery worker claims due messages across every organization with "
        "FOR UPDATE SKIP LOCKED, which Citus runs only on a single node's table",
    ),
    "alembic_version": ("local", "the migrations' bookkeeping, on the coordinator"),
}
