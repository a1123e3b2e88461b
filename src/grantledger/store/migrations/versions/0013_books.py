"""The books (issue 22): the journal, one appended row per movement of money or units, opened
with one OPENING row per credit and feature entry already there; the cost basis of credits and
of the credits auto top-ups grant; the audit log of mutating requests.

Revision ID: 0013
Revises: 0012
"""

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from alembic import op

from grantledger.store.types import Money, UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "journal",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("org_id", sa.String(50), nullable=False),
        sa.Column("tx", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("customer_id", sa.String(255), nullable=True),
        sa.Column("account_id", sa.String(50), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
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
        sa.Column("cost_basis", Money(), nullable=True),
    )
    with op.batch_alter_table("credits") as batch:
        batch.add_column(sa.Column("cost_basis", Money(), nullable=True))
    with op.batch_alter_table("auto_topups") as batch:
        batch.add_column(sa.Column("cost_basis", Money(), nullable=True))
    op.create_table(
        "audit_log",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("org_id", sa.String(50), nullable=False),
        sa.Column("tx", sa.BigInteger(), nullable=False),
        sa.Column("audit_id", sa.String(32), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("method", sa.String(10), nullable=False),
        sa.Column("route", sa.String(200), nullable=False),
        sa.Column("path", sa.String(1000), nullable=False),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("address", sa.String(100), nullable=True),
        sa.UniqueConstraint("org_id", "audit_id", name="uq_audit_log_audit_id"),
    )
    op.create_index("ix_audit_log_cursor", "audit_log", ["org_id", "tx", "seq"])
    op.create_index("ix_journal_cursor", "journal", ["org_id", "tx", "seq"])
    op.create_index("ix_journal_subject", "journal", ["org_id", "subject", "seq"])
    op.create_index("ix_journal_time", "journal", ["org_id", "occurred_at"])
    _opening_rows()


# The journal begins with the balances as they stand: one OPENING row per credit and per
# feature entry already there (their earlier movements stay in their own tables), so every
# later row continues its subject's true balance.
_CHUNK = 1000


def _opening_rows() -> None:
    bind = op.get_bind()
    credits = sa.table(
        "credits",
        sa.column("id", sa.String()),
        sa.column("org_id", sa.String()),
        sa.column("account_id", sa.String()),
        sa.column("customer_id", sa.String()),
        sa.column("credit_unit", sa.String()),
        sa.column("credit_amount", Money()),
        sa.column("consumed_amount", Money()),
        sa.column("hold_amount", Money()),
        sa.column("expired_amount", Money()),
        sa.column("voided_amount", Money()),
        sa.column("idempotency_key", sa.String()),
        sa.column("created_at", UTCDateTime()),
    )
    entries = sa.table(
        "feature_entries",
        sa.column("id", sa.String()),
        sa.column("org_id", sa.String()),
        sa.column("account_id", sa.String()),
        sa.column("feature_id", sa.String()),
        sa.column("granted", Money()),
        sa.column("used", Money()),
        sa.column("voided_at", UTCDateTime()),
        sa.column("idempotency_key", sa.String()),
        sa.column("effective_from", UTCDateTime()),
        sa.column("created_at", UTCDateTime()),
    )
    accounts = sa.table(
        "accounts",
        sa.column("org_id", sa.String()),
        sa.column("id", sa.String()),
        sa.column("customer_id", sa.String()),
    )
    journal = sa.table(
        "journal",
        *(
            sa.column(name, kind)
            for name, kind in (
                ("org_id", sa.String()),
                ("tx", sa.BigInteger()),
                ("occurred_at", UTCDateTime()),
                ("recorded_at", UTCDateTime()),
                ("customer_id", sa.String()),
                ("account_id", sa.String()),
                ("kind", sa.String()),
                ("subject", sa.String()),
                ("feature_id", sa.String()),
                ("unit", sa.String()),
                ("amount", Money()),
                ("held", Money()),
                ("balance_after", Money()),
                ("held_after", Money()),
                ("idempotency_key", sa.String()),
            )
        ),
    )
    zero = Decimal(0)

    def insert(rows: list[dict[str, Any]]) -> None:
        if rows:
            bind.execute(journal.insert(), rows)

    def pages(query: Any, key: Any) -> Any:
        # Keyset pages: no result stays open while the rows are inserted, memory stays flat.
        last = None
        while True:
            page = query if last is None else query.where(key > last)
            rows = bind.execute(page.order_by(*key.clauses).limit(_CHUNK)).all()
            yield from rows
            if len(rows) < _CHUNK:
                return
            last = sa.tuple_(*(getattr(rows[-1], c.name) for c in key.clauses))

    batch: list[dict[str, Any]] = []
    for c in pages(sa.select(credits), sa.tuple_(credits.c.id)):
        left = c.credit_amount - c.consumed_amount - c.expired_amount - c.voided_amount
        batch.append(
            {
                "org_id": c.org_id,
                "tx": 0,
                "occurred_at": c.created_at,
                "recorded_at": c.created_at,
                "customer_id": c.customer_id,
                "account_id": c.account_id,
                "kind": "OPENING",
                "subject": c.id,
                "feature_id": None,
                "unit": c.credit_unit,
                "amount": left,
                "held": c.hold_amount,
                "balance_after": left,
                "held_after": c.hold_amount,
                "idempotency_key": c.idempotency_key,
            }
        )
        if len(batch) >= _CHUNK:
            insert(batch)
            batch = []
    insert(batch)
    batch = []
    owner = sa.select(accounts.c.customer_id).where(
        accounts.c.org_id == entries.c.org_id, accounts.c.id == entries.c.account_id
    )
    query = sa.select(entries, owner.scalar_subquery().label("customer_id"))
    key = sa.tuple_(entries.c.org_id, entries.c.account_id, entries.c.feature_id, entries.c.id)
    for e in pages(query, key):
        left = zero if e.voided_at is not None else e.granted - e.used
        batch.append(
            {
                "org_id": e.org_id,
                "tx": 0,
                "occurred_at": e.effective_from,
                "recorded_at": e.created_at,
                "customer_id": e.customer_id,
                "account_id": e.account_id,
                "kind": "OPENING",
                "subject": e.id,
                "feature_id": e.feature_id,
                "unit": e.feature_id,
                "amount": left,
                "held": zero,
                "balance_after": left,
                "held_after": zero,
                "idempotency_key": e.idempotency_key,
            }
        )
        if len(batch) >= _CHUNK:
            insert(batch)
            batch = []
    insert(batch)


def downgrade() -> None:
    with op.batch_alter_table("auto_topups") as batch:
        batch.drop_column("cost_basis")
    with op.batch_alter_table("credits") as batch:
        batch.drop_column("cost_basis")
    op.drop_table("journal")
    op.drop_table("audit_log")
