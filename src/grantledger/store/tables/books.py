"""The books: the journal, one appended row per movement of money or units (issue 22)."""

from __future__ import annotations

import sqlalchemy as sa

from grantledger.store.tables.base import metadata
from grantledger.store.types import Money, UTCDateTime

# SQLite's INTEGER PRIMARY KEY is its rowid (BIGINT would not be); PostgreSQL's is BIGSERIAL.
Sequence = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

journal = sa.Table(
    "journal",
    metadata,
    sa.Column("seq", Sequence, nullable=False, autoincrement=True),
    sa.Column("org_id", sa.String(50), nullable=False),
    # The writing transaction's number on PostgreSQL (pg_current_xact_id), 0 on SQLite: with
    # `seq`, the row's place in commit order (docs/api.md, "The cursor").
    sa.Column("tx", sa.BigInteger(), nullable=False),
    sa.Column("occurred_at", UTCDateTime(), nullable=False),
    sa.Column("recorded_at", UTCDateTime(), nullable=False),
    sa.Column("customer_id", sa.String(255), nullable=True),
    sa.Column("account_id", sa.String(50), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    # The credit (`cred.…`) or feature entry the row moves.
    sa.Column("subject", sa.String(50), nullable=False),
    sa.Column("feature_id", sa.String(50), nullable=True),
    sa.Column("unit", sa.String(50), nullable=False),
    sa.Column("amount", Money(), nullable=False),
    sa.Column("held", Money(), nullable=False),
    sa.Column("balance_after", Money(), nullable=False),
    sa.Column("held_after", Money(), nullable=False),
    sa.Column("event_id", sa.String(512), nullable=True),
    sa.Column("invoice_id", sa.String(255), nullable=True),
    sa.Column("idempotency_key", sa.String(255), nullable=True),
    sa.Column("request_id", sa.String(64), nullable=True),
    sa.Column("actor", sa.String(100), nullable=True),
    # What a unit of the subject cost its customer, from its grant; NULL: not known.
    sa.Column("cost_basis", Money(), nullable=True),
    # Keyed by organization (Citus, migration 0014); on SQLite the key stays `seq` alone, its
    # rowid, which is what numbers the rows there.
    sa.PrimaryKeyConstraint("org_id", "seq"),
    sa.Index("ix_journal_cursor", "org_id", "tx", "seq"),
    sa.Index("ix_journal_subject", "org_id", "subject", "seq"),
    sa.Index("ix_journal_time", "org_id", "occurred_at"),
)

# Who did what: one row per mutating API request (docs/api.md, "The audit log").
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("seq", Sequence, nullable=False, autoincrement=True),
    sa.Column("org_id", sa.String(50), nullable=False),
    sa.Column("tx", sa.BigInteger(), nullable=False),  # as the journal's: commit order
    # One per request, made by the server (a client's X-Request-Id may repeat).
    sa.Column("audit_id", sa.String(32), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("method", sa.String(10), nullable=False),
    sa.Column("route", sa.String(200), nullable=False),
    sa.Column("path", sa.String(1000), nullable=False),
    # APPLIED: written in the transaction of the change; REFUSED: the request changed nothing.
    sa.Column("outcome", sa.String(10), nullable=False),
    sa.Column("status", sa.Integer(), nullable=True),
    sa.Column("request_id", sa.String(64), nullable=True),
    sa.Column("address", sa.String(100), nullable=True),
    sa.PrimaryKeyConstraint("org_id", "seq"),  # as the journal's
    sa.UniqueConstraint("org_id", "audit_id", name="uq_audit_log_audit_id"),
    sa.Index("ix_audit_log_cursor", "org_id", "tx", "seq"),
)
