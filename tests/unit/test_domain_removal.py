"""The deletion rule (domain/removal.py): refused, naming every kind of thing in the way,
exactly when something hangs on what would be deleted."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grantledger.domain.errors import Conflict
from grantledger.domain.removal import (
    AccountTies,
    check_account_removable,
    check_customer_removable,
    check_schema_removable,
)

KINDS = ("credits", "holds", "entries", "schedules", "purchases", "events")
NAMES = (
    "credits",
    "credit holds",
    "feature entries",
    "plan schedules",
    "purchases",
    "recorded events",
)
ids = st.lists(st.from_regex(r"[a-z]{1,6}", fullmatch=True), max_size=8, unique=True)


@given(st.tuples(*[st.booleans()] * len(KINDS)), ids)
def test_an_account_goes_only_when_nothing_hangs_on_it(
    flags: tuple[bool, ...], alerts: list[str]
) -> None:
    ties = AccountTies(**dict(zip(KINDS, flags, strict=True)), alerts=tuple(alerts))
    if not any(flags) and not alerts:
        check_account_removable("a", ties)
        return
    with pytest.raises(Conflict) as refused:
        check_account_removable("a", ties)
    message = refused.value.message
    assert message.startswith("account a cannot be deleted: ")
    assert refused.value.status == 409
    for name, present in zip(NAMES, flags, strict=True):
        assert (f" {name}" in message) is present, message
    assert ("set it INACTIVE first" in message) is bool(alerts)


def test_the_refusals_name_what_is_in_the_way() -> None:
    ties = AccountTies(True, False, True, False, False, True, ("alert.1",))
    expected = (
        "it has credits, feature entries and recorded events, which the ledger keeps; "
        "ACTIVE alert alert.1 watches it"
    )
    with pytest.raises(Conflict, match=re.escape(expected)):
        check_account_removable("acme", ties)
    with pytest.raises(Conflict, match="it has account a1, a2, a3, a4, a5 and 3 more"):
        check_customer_removable("c", ["a1", "a2", "a3", "a4", "a5"], 8)
    check_customer_removable("c", [], 0)
    with pytest.raises(Conflict, match="feature f1, f2 consumes it"):
        check_schema_removable("usage", ["f1", "f2"])
    check_schema_removable("usage", [])
