"""Organizations, API keys, customers and accounts, credits, their transactions and holds."""

from __future__ import annotations

import sqlalchemy as sa

from grantledger.store.tables.base import metadata
from grantledger.store.types import Money, UTCDateTime

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
    # A customer's accounts, which keep it from being deleted (migration 0009).
    sa.Index("ix_accounts_customer", "org_id", "customer_id"),
)

credits = sa.Table(
    "credits",
    metadata,
    sa.Column("id", sa.String(50), nullable=False),
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
    # What the customer paid per unit (migration 0013); NULL: not known.
    sa.Column("cost_basis", Money(), nullable=True),
    sa.ForeignKeyConstraint(["org_id", "account_id"], ["accounts.org_id", "accounts.id"]),
    sa.UniqueConstraint("org_id", "idempotency_key", name="uq_credits_idempotency_key"),
    sa.Index("ix_credits_org_account", "org_id", "account_id", "status"),
    sa.PrimaryKeyConstraint("org_id", "id"),
)

credit_transactions = sa.Table(
    "credit_transactions",
    metadata,
    sa.Column("id", sa.String(50), nullable=False),
    sa.Column("org_id", sa.String(50), nullable=False),
    sa.Column("credit_id", sa.String(50), nullable=False),
    sa.Column("transaction_type", sa.String(20), nullable=False),
    sa.Column("amount", Money(), nullable=False),
    sa.Column("invoice_id", sa.String(255), nullable=True),
    sa.Column("entity_id", sa.String(255), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index("ix_credit_transactions_credit", "credit_id", "created_at"),
    sa.Index("ix_credit_transactions_kind_time", "credit_id", "transaction_type", "created_at"),
    sa.PrimaryKeyConstraint("org_id", "id"),
    sa.ForeignKeyConstraint(["org_id", "credit_id"], ["credits.org_id", "credits.id"]),
)

credit_holds = sa.Table(
    "credit_holds",
    metadata,
    sa.Column("id", sa.String(50), nullable=False),
    sa.Column("org_id", sa.String(50), nullable=False),
    sa.Column("account_id", sa.String(50), nullable=False),
    sa.Column("invoice_id", sa.String(255), nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),  # HOLD or DEBIT
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("lines", sa.JSON(), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # HELD, CAPTURED, RELEASED, EXPIRED
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("settled_at", UTCDateTime(), nullable=True),
    # The hold's time limit, when it was placed with `expiresIn` (migration 0012).
    sa.Column("expires_at", UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(["org_id", "account_id"], ["accounts.org_id", "accounts.id"]),
    sa.UniqueConstraint("org_id", "account_id", "invoice_id", name="uq_credit_holds_invoice"),
    # The sweeper's read: HELD holds with a time limit (migration 0012).
    sa.Index(
        "ix_credit_holds_lapsing",
        "expires_at",
        postgresql_where=sa.text("status = 'HELD' AND expires_at IS NOT NULL"),
        sqlite_where=sa.text("status = 'HELD' AND expires_at IS NOT NULL"),
    ),
    sa.PrimaryKeyConstraint("org_id", "id"),
)

credit_hold_allocations = sa.Table(
    "credit_hold_allocations",
    metadata,
    sa.Column("hold_id", sa.String(50), nullable=False),
    sa.Column("seq", sa.Integer(), nullable=False),
    sa.Column("line_index", sa.Integer(), nullable=False),
    sa.Column("credit_id", sa.String(50), nullable=False),
    sa.Column("amount", Money(), nullable=False),
    # The hold's organization (migration 0014): every key of a tenant table includes it.
    sa.Column("org_id", sa.String(50), nullable=False),
    sa.Index("ix_credit_hold_allocations_credit", "credit_id"),
    sa.PrimaryKeyConstraint("org_id", "hold_id", "seq"),
    sa.ForeignKeyConstraint(["org_id", "hold_id"], ["credit_holds.org_id", "credit_holds.id"]),
    sa.ForeignKeyConstraint(["org_id", "credit_id"], ["credits.org_id", "credits.id"]),
)

# --- entitlements ----------------------------------------------------------------------------
