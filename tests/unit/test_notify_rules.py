"""The pure rules of alerts, auto top-up and webhooks; the seal and the signature."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook

from grantledger.domain import alerts as rules
from grantledger.domain.alerts import Verdict
from grantledger.domain.errors import InvalidInput
from grantledger.domain.webhooks import next_attempt, refused_address
from grantledger.service.notifications import sealing

amounts = st.decimals(min_value=-1000, max_value=1000, places=2, allow_nan=False)


@settings(max_examples=2 * settings.default.max_examples)
@given(st.lists(amounts, max_size=40), amounts)
def test_one_incident_per_downward_crossing(balances: list[Decimal], line: Decimal) -> None:
    """Judging each state in turn opens once per crossing below and resolves once per return."""
    held = False
    opened = resolved = 0
    for value in balances:
        verdict = rules.judge_threshold(value, line, held)
        if verdict is Verdict.OPEN:
            opened, held = opened + 1, True
        elif verdict is Verdict.RESOLVE:
            resolved, held = resolved + 1, False
        assert held == (value < line)
    below = [v < line for v in balances]
    crossings = sum(1 for i, b in enumerate(below) if b and (i == 0 or not below[i - 1]))
    assert opened == crossings
    assert resolved in (opened, opened - 1)


def test_judging_the_same_state_twice_changes_nothing() -> None:
    assert rules.judge_threshold(Decimal(5), Decimal(10), True) is Verdict.NONE
    assert rules.judge_threshold(Decimal(10), Decimal(10), False) is Verdict.NONE


@settings(max_examples=2 * settings.default.max_examples)
@given(st.lists(amounts, max_size=60), st.integers(min_value=1, max_value=5))
def test_topups_never_exceed_the_month_cap(balances: list[Decimal], cap: int) -> None:
    now = datetime(2030, 5, 1, tzinfo=UTC)
    below, month, count, granted = False, "2030-05", 0, 0
    for value in balances:
        plan = rules.judge_topup(value, Decimal(0), below, month, count, cap, now)
        granted += plan.grant
        below, month, count = plan.below, plan.month, plan.month_count
    assert granted <= cap and count == granted


def test_the_cap_starts_again_each_month() -> None:
    june = datetime(2030, 6, 1, tzinfo=UTC)
    plan = rules.judge_topup(Decimal(1), Decimal(5), False, "2030-05", 3, 3, june)
    assert plan.grant and plan.month == "2030-06" and plan.month_count == 1


def test_expiring_within_the_window_only_with_a_remainder() -> None:
    today = date(2030, 1, 1)
    assert rules.expiring_within(date(2030, 1, 7), Decimal(1), today, 7)
    assert not rules.expiring_within(date(2030, 1, 8), Decimal(1), today, 7)
    assert not rules.expiring_within(date(2030, 1, 2), Decimal(0), today, 7)
    assert not rules.expiring_within(None, Decimal(1), today, 7)
    assert not rules.expiring_within(date(2029, 12, 31), Decimal(1), today, 7)


def test_conditions_parse_or_say_what_to_fix() -> None:
    c = rules.parse_condition(
        "feature_balance_below",
        {"feature": {"id": "f"}},
        {"threshold": {"amount": Decimal("2.5")}},
    )
    assert c == rules.Condition(None, "f", Decimal("2.5"), None)
    assert rules.wire_parameters(c) == {"threshold": {"amount": "2.5"}}
    for template, details, params, word in [
        ("x", None, None, "alertTemplateId"),
        ("credit_balance_below", None, {"threshold": {"amount": "1e999999"}}, "threshold"),
        ("credit_balance_below", None, {"threshold": {"amount": True}}, "threshold"),
        ("credit_balance_below", {"account": {"id": 5}}, {"threshold": {"amount": 1}}, "account"),
        ("credit_expiring", None, {"window": {"days": 400}}, "window"),
        ("credit_expiring", None, {"window": 7}, "window"),
        # Refused at once: int() of this Decimal would hold the server for half a minute.
        ("credit_expiring", None, {"window": {"days": Decimal("1E+999999")}}, "window"),
        ("credit_expiring", None, {"window": {"days": Decimal("7.5")}}, "window"),
    ]:
        with pytest.raises(InvalidInput, match=word):
            rules.parse_condition(template, details, params)
    whole = rules.parse_condition("credit_expiring", None, {"window": {"days": Decimal("7.0")}})
    assert whole.window_days == 7 and type(whole.window_days) is int


def test_the_retry_schedule_then_none() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    schedule = (1.0, 1.0, 2.0)  # float-ok: seconds
    rng = random.Random(7)
    assert next_attempt(schedule, 0, now) == now
    waits = [next_attempt(schedule, n, now, rng) for n in (1, 2, 3)]
    for wait, base in zip(waits, schedule, strict=True):
        assert wait is not None
        assert timedelta(seconds=base) <= wait - now <= timedelta(seconds=base * 1.1)
    assert next_attempt(schedule, 4, now) is None


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "192.168.1.1",
        "172.16.0.1",
        "169.254.169.254",
        "::1",
        "fe80::1",
        "fd00::1",
        "::ffff:10.0.0.1",
        "100.64.0.1",
        "0.0.0.0",
    ],
)
def test_private_addresses_are_refused(address: str) -> None:
    assert refused_address(address) is not None


@pytest.mark.parametrize(
    "address",
    [
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254 (cloud metadata)
        "2002:c0a8:101::",  # 6to4 of 192.168.1.1
        "64:ff9b::7f00:1",  # NAT64 (well-known prefix) of 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "64:ff9b:1::a9fe:a9fe",  # local-use NAT64 of 169.254.169.254
        "::7f00:1",  # IPv4-compatible ::127.0.0.1
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:0:7f00:1",  # IPv4-translated (SIIT) of 127.0.0.1
        "2606:4700::5efe:7f00:1",  # ISATAP interface id carrying 127.0.0.1
        "2606:4700::200:5efe:a00:1",  # ISATAP (universal bit) carrying 10.0.0.1
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo (the client is 127.0.0.1)
    ],
)
def test_private_addresses_inside_ipv6_forms_are_refused(address: str) -> None:
    assert refused_address(address) is not None


def test_public_addresses_pass() -> None:
    assert refused_address("93.184.216.34") is None
    assert refused_address("2606:4700::1111") is None
    # The same IPv6 forms carrying a public address are public.
    assert refused_address("2002:5db8:d822::1") is None  # 6to4 of 93.184.216.34
    assert refused_address("64:ff9b::5db8:d822") is None  # NAT64 of 93.184.216.34


def test_a_seal_opens_only_with_its_key() -> None:
    key, other = sealing._key_from_text("a" * 40), sealing._key_from_text("b" * 40)
    secret = sealing.new_secret()
    sealed = sealing.seal(key, secret)
    assert secret not in sealed and sealing.unseal(key, sealed) == secret
    with pytest.raises(sealing.SealError):
        sealing.unseal(other, sealed)
    tampered = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(sealing.SealError):
        sealing.unseal(key, tampered)


def test_the_signature_is_standard_webhooks() -> None:
    secret = sealing.new_secret()
    stamp = int(datetime.now(UTC).timestamp())
    body = '{"id": "msg.1", "type": "credit.granted", "data": {}}'
    headers = {
        "webhook-id": "msg.1",
        "webhook-timestamp": str(stamp),
        "webhook-signature": sealing.sign(secret, "msg.1", stamp, body),
    }
    assert Webhook(secret).verify(body, headers)["id"] == "msg.1"
    headers["webhook-signature"] = sealing.sign(sealing.new_secret(), "msg.1", stamp, body)
    with pytest.raises(Exception, match="signature"):
        Webhook(secret).verify(body, headers)


def test_due_messages_are_picked_within_each_endpoint_and_organization_share() -> None:
    from grantledger.domain.webhooks import PER_ENDPOINT, PER_ORGANIZATION, pick_due

    slow = ("org-a", "whep-slow")
    # A long backlog of one endpoint first, then two others' messages.
    candidates = [slow] * 30 + [("org-b", "whep-b"), ("org-a", "whep-a2")]
    picked = pick_due(candidates, free=50, by_endpoint={}, by_organization={})
    assert [candidates[i] for i in picked] == [slow] * PER_ENDPOINT + candidates[30:]
    # Already flying: the slow endpoint gets nothing more, its organization's share shrinks.
    flying = {slow: PER_ENDPOINT}
    picked = pick_due(candidates, 50, flying, {"org-a": PER_ORGANIZATION - 1})
    assert [candidates[i] for i in picked] == [("org-b", "whep-b"), ("org-a", "whep-a2")]
    assert pick_due(candidates, 1, {}, {}) == [0]
    assert pick_due(candidates, 0, {}, {}) == []
    many = [("org-c", f"whep-{n}") for n in range(30)]
    assert len(pick_due(many, 50, {}, {})) == PER_ORGANIZATION
