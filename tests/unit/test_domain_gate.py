"""The gate's per-event rules (`domain/gate.py`): one event's draw plan across features, the
entries a batch carries from event to event, and the duplicate's answer.

Expectations come from a model written here: an event is covered when every feature's
effective entries hold its quantity, and then exactly that quantity leaves each feature.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grantledger.domain.entitlements import Entry, EntrySource
from grantledger.domain.errors import NotEntitled
from grantledger.domain.gate import Ledger, duplicate_message, plan_draws

AT = datetime(2026, 6, 1, tzinfo=UTC)
FEATURES = ("f-a", "f-b")


@st.composite
def entries(draw: st.DrawFn, feature: str) -> list[Entry]:
    count = draw(st.integers(0, 3))
    found = []
    for n in range(count):
        granted = Decimal(draw(st.integers(0, 6)))
        found.append(
            Entry(
                id=f"{feature}-{n}",
                source=draw(st.sampled_from(list(EntrySource))),
                effective_from=AT - timedelta(days=draw(st.integers(-2, 5))),
                effective_until=draw(st.sampled_from([None, AT, AT + timedelta(days=3)])),
                granted=granted,
                used=Decimal(draw(st.integers(0, int(granted)))),
                voided=draw(st.booleans()),
            )
        )
    return found


def covered(pool: list[Entry], quantity: Decimal) -> bool:
    usable = [e for e in pool if not e.voided and e.effective_from <= AT]
    usable = [e for e in usable if e.effective_until is None or e.effective_until > AT]
    return sum((e.granted - e.used for e in usable), Decimal(0)) >= quantity


@settings(max_examples=4 * settings.default.max_examples)
@given(
    pools=st.tuples(entries("f-a"), entries("f-b")),
    stream=st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=1, max_size=8),
)
def test_a_stream_draws_exactly_what_each_covered_event_asks(
    pools: tuple[list[Entry], list[Entry]], stream: list[tuple[int, int]]
) -> None:
    ledger = Ledger({("acc", f): list(p) for f, p in zip(FEATURES, pools, strict=True)})
    model = {f: list(p) for f, p in zip(FEATURES, pools, strict=True)}
    for a, b in stream:
        quantities = {"f-a": Decimal(a), "f-b": Decimal(b)}
        expected = all(covered(model[f], q) for f, q in quantities.items())
        before = {
            f: sum((e.used for e in ledger.entries[("acc", f)]), Decimal(0)) for f in FEATURES
        }
        try:
            planned = plan_draws(ledger.of("acc", sorted(quantities)), quantities, AT)
        except NotEntitled:
            assert not expected
            continue
        assert expected
        ledger.apply("acc", planned)
        for f in FEATURES:
            after = sum((e.used for e in ledger.entries[("acc", f)]), Decimal(0))
            assert after - before[f] == quantities[f]
            assert all(Decimal(0) <= e.used <= e.granted for e in ledger.entries[("acc", f)])
            model[f] = list(ledger.entries[("acc", f)])
        assert [f for f, _ in planned] == sorted(f for f, _ in planned)  # feature order


def test_a_refused_event_names_the_first_feature_short() -> None:
    rich = Entry("e1", EntrySource.ENTITLEMENT, AT, None, Decimal(10))
    with pytest.raises(NotEntitled, match="feature f-b is not covered: needed 1, available 0"):
        plan_draws({"f-a": [rich], "f-b": []}, {"f-a": Decimal(5), "f-b": Decimal(1)}, AT)


def test_the_duplicate_answer_says_how_the_original_was_decided() -> None:
    base = "event id e-1 was already received"
    assert duplicate_message("e-1", True, None) == base + "; it was accepted"
    assert duplicate_message("e-1", False, "feature x is not covered") == (
        base + "; it was refused: feature x is not covered"
    )
    assert duplicate_message("e-1", None, None) == base
    # The same account: how it was decided. Another account: that it is another account's.
    assert duplicate_message("e-1", True, None, account_id="a", original_account_id="a") == (
        base + "; it was accepted"
    )
    assert duplicate_message("e-1", True, None, account_id="b", original_account_id="a") == (
        base + " for account a, not b: nothing was recorded for b; "
        "send its event with an id of its own"
    )
