"""Console sessions and the console's action log."""

from __future__ import annotations

import sqlalchemy as sa

from grantledger.store.tables.base import metadata
from grantledger.store.types import UTCDateTime

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
    sa.Column("id", sa.String(50), nullable=False),
    sa.Column("org_id", sa.String(50), sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("account_id", sa.String(50), nullable=False),
    sa.Column("target", sa.String(255), nullable=False),
    sa.Column("detail", sa.JSON(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index("ix_console_actions_account", "org_id", "account_id", "id"),
    sa.PrimaryKeyConstraint("org_id", "id"),
)
