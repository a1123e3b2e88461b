"""Unit and property tests of the pure money and id rules (docs/api.md §1: generated ids,
amounts)."""

from __future__ import annotations

import asyncio
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grantledger.domain.errors import InvalidInput
from grantledger.domain.ids import BASE62, base62, new_id, new_ids, random_base62
from grantledger.domain.money import (
    MAX_FRACTION_DIGITS,
    MAX_INTEGER_DIGITS,
    canonical,
    quantize_stored,
    to_amount,
)

PROPERTY = settings(max_examples=2 * settings.default.max_examples, deadline=None)

# ---------------------------------------------------------------------------------------------
# to_amount
# ---------------------------------------------------------------------------------------------

LARGEST = Decimal("999999999999999999.9999999999")  # 18 integer digits, 10 fractional digits
SMALLEST = Decimal("0.0000000001")


@pytest.mark.parametrize(
    "value",
    [
        1,
        10**17,
        10**18 - 1,
        Decimal(1),
        Decimal("0.3"),
        Decimal("1000"),
        Decimal("1E+3"),
        Decimal("1.00000000000000"),  # trailing zeros are not precision
        SMALLEST,
        LARGEST,
        Decimal("123456789012345678.1234567890"),
    ],
)
def test_to_amount_accepts_int_and_decimal(value: int | Decimal) -> None:
    amount = to_amount(value, "creditAmount")
    assert isinstance(amount, Decimal)
    assert amount == Decimal(value)


@pytest.mark.parametrize(
    "value",
    [
        "10",
        "10.5",
        10.5,
        0.3,
        1.0,
        True,
        False,
        None,
        [1],
        {"amount": 1},
    ],
)
def test_to_amount_refuses_non_numbers(value: object) -> None:
    with pytest.raises(InvalidInput, match="creditAmount"):
        to_amount(value, "creditAmount")


@pytest.mark.parametrize(
    "value",
    [Decimal("NaN"), Decimal("sNaN"), Decimal("-NaN"), Decimal("Infinity"), Decimal("-Infinity")],
)
def test_to_amount_refuses_non_finite(value: Decimal) -> None:
    with pytest.raises(InvalidInput, match="creditAmount"):
        to_amount(value, "creditAmount")
    with pytest.raises(InvalidInput):
        to_amount(value, "creditAmount", allow_zero=True)


@pytest.mark.parametrize("value", [-1, Decimal("-0.01"), -(10**20), Decimal("-1E-10")])
def test_to_amount_refuses_negatives(value: int | Decimal) -> None:
    with pytest.raises(InvalidInput, match="negative"):
        to_amount(value, "creditAmount")
    with pytest.raises(InvalidInput, match="negative"):
        to_amount(value, "creditAmount", allow_zero=True)


@pytest.mark.parametrize("value", [0, Decimal(0), Decimal("0.000"), Decimal("0E+5"), Decimal("-0")])
def test_to_amount_zero_only_when_allowed(value: int | Decimal) -> None:
    with pytest.raises(InvalidInput, match="greater than 0"):
        to_amount(value, "creditAmount")
    amount = to_amount(value, "creditAmount", allow_zero=True)
    assert amount == 0
    assert canonical(amount) == "0"


@pytest.mark.parametrize(
    "value",
    [
        Decimal("0.00000000001"),  # 11 fractional digits
        Decimal("1.12345678901"),
        Decimal("1E-11"),
        Decimal("999999999999999999.99999999999"),
        # More than 28 significant digits: the default decimal context would round these
        # back to a short number while normalizing and let 29 fractional digits through.
        Decimal("1." + "0" * 28 + "1"),
        Decimal("123.45" + "0" * 25 + "1"),
        Decimal("1E-1000000"),
    ],
)
def test_to_amount_refuses_more_than_ten_fraction_digits(value: Decimal) -> None:
    with pytest.raises(InvalidInput, match="decimal places"):
        to_amount(value, "creditAmount")


@pytest.mark.parametrize(
    "value",
    [
        10**18,
        Decimal("1E+18"),
        Decimal("1000000000000000000.5"),
        10**40,
        Decimal("1E+1000000"),  # must be a 400, not a decimal.Overflow escaping as a 500
        Decimal("9" * 40),
    ],
)
def test_to_amount_refuses_more_than_eighteen_integer_digits(value: int | Decimal) -> None:
    with pytest.raises(InvalidInput, match="integer digits"):
        to_amount(value, "creditAmount")


@st.composite
def amounts_within_limits(draw: st.DrawFn) -> Decimal:
    places = draw(st.integers(0, MAX_FRACTION_DIGITS))
    units = draw(st.integers(1, 10 ** (MAX_INTEGER_DIGITS + places) - 1))
    return Decimal(units).scaleb(-places)


@st.composite
def amounts_beyond_limits(draw: st.DrawFn) -> Decimal:
    """Positive amounts with too many fractional or integer digits (possibly both)."""
    if draw(st.booleans()):
        places = draw(st.integers(MAX_FRACTION_DIGITS + 1, 40))
        units = draw(st.integers(1, 10**45))
        if units % 10 == 0:  # keep the last fractional digit significant
            units += 1
        # Built from text, which is exact: scaleb and + round to the context's 28 digits and
        # could bring an amount back within the limits.
        return Decimal(f"{units}E-{places}")
    places = draw(st.integers(0, MAX_FRACTION_DIGITS))
    integer = draw(st.integers(10**MAX_INTEGER_DIGITS, 10**40))
    fraction = draw(st.integers(0, 10**places - 1))
    return Decimal(f"{integer}.{fraction:0{places}d}" if places else str(integer))


@PROPERTY
@given(amounts_within_limits())
def test_to_amount_accepts_everything_within_limits(amount: Decimal) -> None:
    assert to_amount(amount, "amount") == amount
    assert to_amount(amount, "amount", allow_zero=True) == amount


@PROPERTY
@given(st.integers(1, 10**MAX_INTEGER_DIGITS - 1))
def test_to_amount_accepts_ints_within_limits(value: int) -> None:
    assert to_amount(value, "amount") == Decimal(value)


@PROPERTY
@given(amounts_beyond_limits())
def test_to_amount_refuses_everything_beyond_limits(amount: Decimal) -> None:
    with pytest.raises(InvalidInput):
        to_amount(amount, "amount")
    with pytest.raises(InvalidInput):
        to_amount(-amount, "amount")


# ---------------------------------------------------------------------------------------------
# canonical
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal(1000), "1000"),
        (Decimal("1E+3"), "1000"),
        (Decimal("1000.0000000000"), "1000"),
        (Decimal("0.3"), "0.3"),
        (Decimal("0.30"), "0.3"),
        (Decimal("0.1") + Decimal("0.2"), "0.3"),
        (Decimal("1E-10"), "0.0000000001"),
        (Decimal("1.5E+20"), "150000000000000000000"),
        (Decimal(0), "0"),
        (Decimal("0E-10"), "0"),
        (Decimal("-0"), "0"),
        (Decimal("-12.50"), "-12.5"),
        (LARGEST, "999999999999999999.9999999999"),
        # Beyond 28 significant digits (a sum of large balances): still exact, never rounded.
        (Decimal("1234567890123456789012345678901.5"), "1234567890123456789012345678901.5"),
    ],
)
def test_canonical_examples(value: Decimal, text: str) -> None:
    assert canonical(value) == text
    assert quantize_stored(value) == value


_CANONICAL = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?$")


@PROPERTY
@given(
    st.one_of(
        amounts_within_limits(),
        st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(
            lambda d: abs(d.adjusted()) < 60
        ),
    )
)
def test_canonical_is_exact_and_shortest(value: Decimal) -> None:
    text = canonical(value)
    assert Decimal(text) == value
    assert "E" not in text.upper()
    assert _CANONICAL.match(text), text
    assert text != "-0"
    stored = quantize_stored(value)
    assert stored == value
    assert canonical(stored) == text


# ---------------------------------------------------------------------------------------------
# ids
# ---------------------------------------------------------------------------------------------

ID_SHAPE = re.compile(r"^(?P<prefix>[a-z]+)\.(?P<time>[0-9A-Za-z]{11})\.(?P<rand>[0-9A-Za-z]{5})$")
PREFIXES = ["cred", "ctxn", "feature", "purchase", "sch", "hold"]

instants = st.datetimes(
    min_value=datetime(1970, 1, 1),
    max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
    ),
).filter(lambda at: at >= datetime(1970, 1, 1, tzinfo=UTC))


def test_base62_alphabet_is_in_ascii_order() -> None:
    assert list(BASE62) == sorted(BASE62)
    assert len(set(BASE62)) == 62


def test_base62_edges() -> None:
    assert base62(0, 3) == "000"
    assert base62(61, 1) == "z"
    assert base62(62, 2) == "10"
    assert base62(62**11 - 1, 11) == "z" * 11
    with pytest.raises(ValueError, match="non-negative"):
        base62(-1, 11)
    with pytest.raises(ValueError, match=f"^{62**11} does not fit"):
        base62(62**11, 11)


@PROPERTY
@given(st.sampled_from(PREFIXES), instants)
def test_new_id_shape(prefix: str, at: datetime) -> None:
    made = new_id(prefix, at)
    match = ID_SHAPE.match(made)
    assert match is not None, made
    assert match["prefix"] == prefix
    assert len(made) <= 50
    assert int_of(match["time"]) == (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(
        microseconds=1
    )


def int_of(text: str) -> int:
    number = 0
    for char in text:
        number = number * 62 + BASE62.index(char)
    return number


@PROPERTY
@given(st.sampled_from(PREFIXES), instants, instants)
def test_id_text_order_follows_time_order(prefix: str, a: datetime, b: datetime) -> None:
    first, second = new_id(prefix, a), new_id(prefix, b)
    time_a, time_b = first.split(".")[1], second.split(".")[1]
    if a < b:
        assert time_a < time_b
        assert first < second
    elif a > b:
        assert time_a > time_b
        assert first > second
    else:
        assert time_a == time_b


@PROPERTY
@given(instants, st.integers(1, 10**6))
def test_ids_one_microsecond_apart_still_sort(at: datetime, micros: int) -> None:
    later = at + timedelta(microseconds=micros)
    assert new_id("cred", at, "zzzzz") < new_id("cred", later, "00000")


def test_new_id_random_part() -> None:
    at = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert new_id("cred", at, "abcde").endswith(".abcde")
    tails = {new_id("cred", at).rsplit(".", 1)[1] for _ in range(200)}
    assert len(tails) > 190  # random, not constant
    for tail in tails:
        assert len(tail) == 5
        assert set(tail) <= set(BASE62)
    assert len(random_base62(11)) == 11


# ---------------------------------------------------------------------------------------------
# Exact arithmetic at the limits (docs/design.md, "Money and time")
# ---------------------------------------------------------------------------------------------


def _sums_at_the_limit() -> list[Decimal]:
    many = sum([LARGEST] * 1000, Decimal(0))
    credits = [LARGEST, LARGEST, SMALLEST]
    return [
        LARGEST + LARGEST,
        sum(credits, Decimal(0)) - LARGEST,  # a balance minus a hold
        many,
        LARGEST * 3 * 7,  # what a purchase multiplies: credits x quantities x quantity
    ]


EXPECTED_SUMS = [
    Decimal("1999999999999999999.9999999998"),
    Decimal("1000000000000000000.0000000000"),
    Decimal("999999999999999999999.9999999000"),
    Decimal("20999999999999999999.9999999979"),
]


def test_sums_are_exact_at_the_documented_maximum() -> None:
    assert _sums_at_the_limit() == EXPECTED_SUMS
    assert canonical(LARGEST + LARGEST) == "1999999999999999999.9999999998"


def test_every_thread_and_task_sums_exactly() -> None:
    """The context is the process's: a thread started later, a pool's thread and an asyncio
    task (each with a decimal context of its own) are as exact as the importing thread."""
    found: list[list[Decimal]] = []
    thread = threading.Thread(target=lambda: found.append(_sums_at_the_limit()))
    thread.start()
    thread.join()
    with ThreadPoolExecutor(2) as pool:
        found.append(pool.submit(_sums_at_the_limit).result())

    async def in_a_task() -> list[Decimal]:
        loop = asyncio.get_running_loop()
        in_executor = await loop.run_in_executor(None, _sums_at_the_limit)
        assert in_executor == EXPECTED_SUMS
        return await asyncio.create_task(asyncio.to_thread(_sums_at_the_limit))

    found.append(asyncio.run(in_a_task()))
    assert found == [EXPECTED_SUMS] * 3


@given(st.integers(1, 100), st.datetimes(min_value=datetime(2000, 1, 1)))
def test_ids_of_one_instant_ascend_in_the_order_they_are_made(count: int, at: datetime) -> None:
    instant = at.replace(tzinfo=UTC)
    made = new_ids("cred", instant, count)
    assert made == sorted(made) and len(set(made)) == count
    # Every one still carries the instant it was made at.
    assert {i.split(".")[1] for i in made} == {new_id("cred", instant).split(".")[1]}
