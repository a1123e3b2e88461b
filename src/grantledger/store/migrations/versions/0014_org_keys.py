"""Every tenant table keyed by organization: its primary key, unique constraints and foreign keys
all include `org_id`, the column Citus distributes the tables by (docs/scale-out.md).

Written to work on the schema as it stands when it runs, not on a list frozen here: every table
with an `org_id` column, except the global ones below, gets `org_id` put first in each primary
key and unique constraint that lacks it, and each foreign key to another tenant table that lacks
it becomes `(org_id, …) → (org_id, …)`. At 0011 that is: console_actions, credit_holds,
credit_transactions, credits, draws, events, feature_entries (its row_key unique),
feature_entry_changes, purchases, schedule_changes and schedules; credit_hold_allocations first
gets the `org_id` it lacked (its hold's).

Ids stay unique on their own (they are random), so no row can collide under the wider keys.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# Global by nature, never keyed by organization: store/tables/citus.py says why for each (kept
# here as it stood at this revision; tests/api/test_org_keys.py checks the two agree).
GLOBAL_TABLES = frozenset(
    {
        "alembic_version",
        "organizations",
        "api_keys",
        "console_sessions",
        "server_secrets",
        "webhook_messages",
    }
)
ORG = "org_id"


class _Plan:
    """What one table needs: (name, columns) of keys to widen, and foreign keys to redo.
    (Not a dataclass: Alembic loads a migration outside sys.modules, where dataclasses cannot
    resolve postponed annotations.)"""

    def __init__(self, table: str) -> None:
        self.table = table
        self.primary: tuple[str, list[str]] | None = None
        self.uniques: list[tuple[str, list[str]]] = []
        self.foreign: list[dict[str, Any]] = []

    def __bool__(self) -> bool:
        return bool(self.primary or self.uniques or self.foreign)


def upgrade() -> None:
    _give_allocations_their_organization()
    inspector = sa.inspect(op.get_bind())
    tenant = {
        name
        for name in inspector.get_table_names()
        if name not in GLOBAL_TABLES and ORG in {c["name"] for c in inspector.get_columns(name)}
    }
    sqlite = op.get_bind().dialect.name == "sqlite"
    plans = [p for p in (_plan(inspector, name, tenant, sqlite) for name in sorted(tenant)) if p]
    if sqlite:
        # SQLite changes a key by copying the table (migrations run with its foreign keys
        # unenforced and checked at the end: store/migrations/env.py).
        for plan in plans:
            with op.batch_alter_table(plan.table, recreate="always") as batch:
                _apply(batch, plan)
        return
    # PostgreSQL: a key cannot be dropped while a foreign key leans on it, so every foreign key
    # to be redone goes first and comes back last.
    for plan in plans:
        for fk in plan.foreign:
            op.drop_constraint(fk["name"], plan.table, type_="foreignkey")
    for plan in plans:
        _widen(op, plan, table=plan.table)
    for plan in plans:
        for fk in plan.foreign:
            _create_foreign(op, plan.table, fk)


def _give_allocations_their_organization() -> None:
    inspector = sa.inspect(op.get_bind())
    if ORG in {c["name"] for c in inspector.get_columns("credit_hold_allocations")}:
        return
    with op.batch_alter_table("credit_hold_allocations") as batch:
        batch.add_column(sa.Column(ORG, sa.String(50), nullable=True))
    op.execute(
        "UPDATE credit_hold_allocations SET org_id = (SELECT h.org_id FROM credit_holds h "
        "WHERE h.id = credit_hold_allocations.hold_id)"
    )
    with op.batch_alter_table("credit_hold_allocations") as batch:
        batch.alter_column(ORG, existing_type=sa.String(50), nullable=False)


def _plan(inspector: Any, table: str, tenant: set[str], sqlite: bool) -> _Plan:
    plan = _Plan(table)
    primary = inspector.get_pk_constraint(table)
    columns = list(primary.get("constrained_columns") or [])
    if sqlite and len(columns) == 1 and _is_rowid(inspector, table, columns[0]):
        # SQLite numbers such a table's rows by this key (an INTEGER PRIMARY KEY is its
        # rowid); widened, it would number nothing. SQLite is never sharded: left alone.
        columns = []
    if columns and ORG not in columns:
        plan.primary = (primary.get("name") or f"pk_{table}", [ORG, *columns])
    for unique in inspector.get_unique_constraints(table):
        if ORG not in unique["column_names"]:
            plan.uniques.append((unique["name"], [ORG, *unique["column_names"]]))
    for fk in inspector.get_foreign_keys(table):
        if ORG not in fk["constrained_columns"] and fk["referred_table"] in tenant:
            plan.foreign.append(fk)
    return plan


def _is_rowid(inspector: Any, table: str, column: str) -> bool:
    [found] = [c for c in inspector.get_columns(table) if c["name"] == column]
    return str(found["type"]).upper() == "INTEGER"


def _widen(target: Any, plan: _Plan, table: str | None = None) -> None:
    """Drop and recreate, with org_id first, the primary key and uniques `plan` names (on
    `op` with the table named, or on a batch without)."""
    on = (table,) if table else ()
    if plan.primary is not None:
        name, columns = plan.primary
        target.drop_constraint(name, *on, type_="primary")
        target.create_primary_key(name, *on, columns)
    for name, columns in plan.uniques:
        target.drop_constraint(name, *on, type_="unique")
        target.create_unique_constraint(name, *on, columns)


def _create_foreign(target: Any, table: str | None, fk: dict[str, Any]) -> None:
    referred = fk["referred_table"]
    name = f"fk_{table or fk['_table']}_org_id_{referred}"
    args = (name, table) if table else (name,)
    target.create_foreign_key(
        *args, referred, [ORG, *fk["constrained_columns"]], [ORG, *fk["referred_columns"]]
    )


def _apply(batch: Any, plan: _Plan) -> None:
    for fk in plan.foreign:
        batch.drop_constraint(fk["name"], type_="foreignkey")
    _widen(batch, plan)
    for fk in plan.foreign:
        _create_foreign(batch, None, {**fk, "_table": plan.table})


# What 0011 had, for going back: the keys without org_id, and the foreign keys by id alone.
_NARROW_KEYS = {
    "console_actions": ["id"],
    "credit_holds": ["id"],
    "credit_transactions": ["id"],
    "credits": ["id"],
    "draws": ["event_pk", "seq"],
    "events": ["id"],
    "feature_entry_changes": ["id"],
    "purchases": ["id"],
    "schedule_changes": ["id"],
    "schedules": ["id"],
    "credit_hold_allocations": ["hold_id", "seq"],
}
_NARROW_UNIQUES = {"feature_entries": [("uq_feature_entries_row_key", ["row_key"])]}
_NARROW_FOREIGN = {
    "credit_transactions": [("credit_id", "credits")],
    "draws": [("event_pk", "events")],
    "credit_hold_allocations": [("hold_id", "credit_holds"), ("credit_id", "credits")],
}


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    tables = sorted({*_NARROW_KEYS, *_NARROW_UNIQUES, *_NARROW_FOREIGN})
    if not sqlite:
        for table in tables:
            for _, referred in _NARROW_FOREIGN.get(table, []):
                op.drop_constraint(f"fk_{table}_org_id_{referred}", table, type_="foreignkey")
    for table in tables:
        if sqlite:
            with op.batch_alter_table(table, recreate="always") as batch:
                for _, referred in _NARROW_FOREIGN.get(table, []):
                    batch.drop_constraint(f"fk_{table}_org_id_{referred}", type_="foreignkey")
                _narrow(batch, table, on=())
                _narrow_foreign(batch, table, on=())
        else:
            _narrow(op, table, on=(table,))
    if not sqlite:
        for table in tables:
            _narrow_foreign(op, table, on=(table,))
    with op.batch_alter_table("credit_hold_allocations") as batch:
        batch.drop_column(ORG)


def _narrow(target: Any, table: str, on: tuple[str, ...]) -> None:
    if table in _NARROW_KEYS:
        target.drop_constraint(f"pk_{table}", *on, type_="primary")
        target.create_primary_key(f"pk_{table}", *on, _NARROW_KEYS[table])
    for name, columns in _NARROW_UNIQUES.get(table, []):
        target.drop_constraint(name, *on, type_="unique")
        target.create_unique_constraint(name, *on, columns)


def _narrow_foreign(target: Any, table: str, on: tuple[str, ...]) -> None:
    for column, referred in _NARROW_FOREIGN.get(table, []):
        name = f"fk_{table}_{column}_{referred}"
        target.create_foreign_key(name, *on, referred, [column], ["id"])
