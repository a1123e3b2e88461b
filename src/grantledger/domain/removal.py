"""When a customer, an account or an event schema may be deleted: never while money, usage or
a plan hangs on it. The ledger is append-only, so what it recorded about an account (credits
and their holds, feature entries, plan schedules, purchases, judged events) is never deleted,
and neither is the account it names; a refusal says what is in the way, and deletes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

from grantledger.domain.errors import Conflict

SHOWN = 5  # ids a refusal names before "and N more"


@dataclass(frozen=True)
class AccountTies:
    """What refers to an account. Each kind the ledger keeps blocks its deletion."""

    credits: bool
    holds: bool
    entries: bool
    schedules: bool
    purchases: bool
    events: bool
    # ACTIVE alerts watching this account alone: deleting the account would leave them
    # watching nothing (an INACTIVE one may stay: re-activating it checks its account again).
    alerts: tuple[str, ...] = ()


_KINDS = {
    "credits": "credits",
    "holds": "credit holds",
    "entries": "feature entries",
    "schedules": "plan schedules",
    "purchases": "purchases",
    "events": "recorded events",
}


def _listed(names: Sequence[str]) -> str:
    if len(names) == 1:
        return names[0]
    return f"{', '.join(names[:-1])} and {names[-1]}"


def _ids(ids: Sequence[str], total: int | None = None) -> str:
    """The first SHOWN of `ids` (of `total` in all, when only the first were read)."""
    count = len(ids) if total is None else total
    shown = ", ".join(ids[:SHOWN])
    return f"{shown} and {count - SHOWN} more" if count > SHOWN else shown


def check_account_removable(account_id: str, ties: AccountTies) -> None:
    """Refuse (409) to delete an account the ledger holds anything for, or an alert watches."""
    kept = [_KINDS[f.name] for f in fields(ties) if f.name in _KINDS and getattr(ties, f.name)]
    reasons: list[str] = []
    if kept:
        reasons.append(f"it has {_listed(kept)}, which the ledger keeps")
    if ties.alerts:
        reasons.append(f"ACTIVE alert {_ids(ties.alerts)} watches it (set it INACTIVE first)")
    if reasons:
        raise Conflict(f"account {account_id} cannot be deleted: {'; '.join(reasons)}")


def check_customer_removable(customer_id: str, first_accounts: Sequence[str], total: int) -> None:
    """Refuse (409) to delete a customer that still owns accounts (`total` of them, the first
    ones named)."""
    if total:
        raise Conflict(
            f"customer {customer_id} cannot be deleted: it has account "
            f"{_ids(first_accounts, total)} (delete its accounts first)"
        )


def check_schema_removable(name: str, feature_ids: Sequence[str]) -> None:
    """Refuse (409) to delete an event schema a feature consumes: its events would stop
    metering that feature. Events already recorded under it carry their own copy and stay."""
    if feature_ids:
        raise Conflict(
            f"event schema {name} cannot be deleted: feature {_ids(feature_ids)} consumes it "
            "(remove it from the feature's schemaAssociations first)"
        )
