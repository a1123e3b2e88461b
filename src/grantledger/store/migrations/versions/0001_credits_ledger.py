"""Tenants, customers, accounts and the monetary credits ledger.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from grantledger.store.types import Money, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "server_secrets",
        sa.Column("name", sa.String(50), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
    )
    op.create_table(
        "organizations",
        sa.Column("id", sa.String(50), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("key_hash", sa.String(64), primary_key=True),
        sa.Column("org_id", sa.String(50), sa.ForeignKey("organizations.id"), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "customers",
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
    op.create_table(
        "accounts",
        sa.Column("org_id", sa.String(50), sa.ForeignKey("organizations.id"), primary_key=True),
        sa.Column("id", sa.String(50), primary_key=True),
        sa.Column("togai_account_id", sa.String(50), nullable=False),
        sa.Column("customer_id", sa.String(255), nullable=False),
        sa.Column("togai_customer_id", sa.String(50), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("invoice_currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "credits",
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
        sa.Column("consumed_amount", Money(), nullable=False),
        sa.Column("hold_amount", Money(), nullable=False),
        sa.Column("expired_amount", Money(), nullable=False),
        sa.Column("voided_amount", Money(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["org_id", "account_id"], ["accounts.org_id", "accounts.id"]),
        sa.UniqueConstraint("org_id", "idempotency_key", name="uq_credits_idempotency_key"),
    )
    op.create_index("ix_credits_org_account", "credits", ["org_id", "account_id", "status"])
    op.create_table(
        "credit_transactions",
        sa.Column("id", sa.String(50), primary_key=True),
        sa.Column("org_id", sa.String(50), nullable=False),
        sa.Column("credit_id", sa.String(50), sa.ForeignKey("credits.id"), nullable=False),
        sa.Column("transaction_type", sa.String(20), nullable=False),
        sa.Column("amount", Money(), nullable=False),
        sa.Column("invoice_id", sa.String(255), nullable=True),
        sa.Column("entity_id", sa.String(255), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ix_credit_transactions_credit", "credit_transactions", ["credit_id", "created_at"]
    )
    op.create_table(
        "credit_holds",
        sa.Column("id", sa.String(50), primary_key=True),
        sa.Column("org_id", sa.String(50), nullable=False),
        sa.Column("account_id", sa.String(50), nullable=False),
        sa.Column("invoice_id", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("settled_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["org_id", "account_id"], ["accounts.org_id", "accounts.id"]),
        sa.UniqueConstraint("org_id", "account_id", "invoice_id", name="uq_credit_holds_invoice"),
    )
    op.create_table(
        "credit_hold_allocations",
        sa.Column("hold_id", sa.String(50), sa.ForeignKey("credit_holds.id"), primary_key=True),
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("line_index", sa.Integer(), nullable=False),
        sa.Column("credit_id", sa.String(50), sa.ForeignKey("credits.id"), nullable=False),
        sa.Column("amount", Money(), nullable=False),
    )
    op.create_index("ix_credit_hold_allocations_credit", "credit_hold_allocations", ["credit_id"])


def downgrade() -> None:
    for table in (
        "credit_hold_allocations",
        "credit_holds",
        "credit_transactions",
        "credits",
        "accounts",
        "customers",
        "api_keys",
        "organizations",
        "server_secrets",
    ):
        op.drop_table(table)
