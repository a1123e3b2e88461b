"""Exact decimal amounts: parsing limits and the canonical wire form."""

from __future__ import annotations

import decimal
from decimal import MAX_EMAX, MIN_EMIN, ROUND_HALF_EVEN, Context, Decimal, InvalidOperation

from grantledger.domain.errors import InvalidInput

MAX_INTEGER_DIGITS = 18
MAX_FRACTION_DIGITS = 10
ZERO = Decimal(0)

# Arithmetic on amounts is exact. Python's default context keeps 28 significant digits, and
# two amounts at the limits above (18 + 10 digits each) already sum to 29: two credits of
# 999999999999999999.9999999999 would show 2000000000000000000. 100 digits hold any sum of up
# to 10^72 such amounts and any product the purchase rule makes (28 x 28 x 10 digits), so
# every balance, total and product is computed without rounding, wherever it is computed.
EXACT_DIGITS = 100


def use_exact_arithmetic() -> None:
    """Make every Decimal operation of this process exact at the documented limits: the
    current thread's (and asyncio task's) context, and the template every thread started
    later copies its own from. Idempotent; done once, when this module is first imported."""
    decimal.DefaultContext.prec = EXACT_DIGITS
    decimal.getcontext().prec = EXACT_DIGITS


use_exact_arithmetic()


def to_amount(value: object, field: str, *, allow_zero: bool = False) -> Decimal:
    """Turn a parsed JSON number into a checked Decimal.

    Accepts int and Decimal only: JSON numbers arrive as those because the API parses
    floats straight into Decimal. Strings, floats and booleans are refused so that a
    caller's `"10.5"` or a float that already lost precision never becomes money.
    """
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise InvalidInput(f"{field} must be a JSON number")
    try:
        amount = Decimal(value)
    except InvalidOperation as exc:  # pragma: no cover - int/Decimal always convert
        raise InvalidInput(f"{field} must be a JSON number") from exc
    if not amount.is_finite():
        raise InvalidInput(f"{field} must be a finite number")
    if amount < 0:
        raise InvalidInput(f"{field} must not be negative")
    if amount == 0 and not allow_zero:
        raise InvalidInput(f"{field} must be greater than 0")
    check_precision(amount, field)
    return amount


def _normalized(amount: Decimal) -> Decimal:
    """`amount` without trailing zeros, exactly: the default context would round past 28
    significant digits (and overflow on huge exponents), hiding digits the limits must see."""
    exact = Context(prec=max(1, len(amount.as_tuple().digits)), Emax=MAX_EMAX, Emin=MIN_EMIN)
    return amount.normalize(exact)


_STEP = Decimal(1).scaleb(-MAX_FRACTION_DIGITS)


def round_fraction(amount: Decimal) -> Decimal:
    """`amount` rounded half-even to the kept fractional digits, when it has more.

    Float arithmetic in a client sends `0.30000000000000004` for `0.1 + 0.2`; Togai accepts
    it, so the stored value is that number rounded to 10 places. Only the fraction is ever
    rounded: a number whose integer part is too long, a negative one (which must not round
    to a harmless -0), NaN or infinity comes back as it was, for the limits to refuse."""
    if not amount.is_finite() or amount.is_signed():
        return amount
    exponent = amount.as_tuple().exponent
    assert isinstance(exponent, int)
    if exponent >= -MAX_FRACTION_DIGITS:
        return amount
    integer_digits = max(0, amount.adjusted() + 1)
    if integer_digits > MAX_INTEGER_DIGITS:
        return amount
    exact = Context(prec=integer_digits + MAX_FRACTION_DIGITS + 1, Emax=MAX_EMAX, Emin=MIN_EMIN)
    return amount.quantize(_STEP, rounding=ROUND_HALF_EVEN, context=exact)


def parse_quantity(text: str) -> Decimal:
    """A quantity written as a numeric string (an event attribute, a quantity validated against
    a metered balance), rounded as every wire amount is: the gate and validate share this, so
    validate answers yes exactly where the gate would accept."""
    return round_fraction(Decimal(text))


def check_precision(amount: Decimal, field: str) -> None:
    _sign, digits, exponent = _normalized(amount).as_tuple()
    assert isinstance(exponent, int)
    fraction_digits = max(0, -exponent)
    integer_digits = max(0, len(digits) + exponent)
    # Integer digits first: a wire number too long to round has both, and its integer part
    # is what the caller must fix.
    if integer_digits > MAX_INTEGER_DIGITS:
        raise InvalidInput(f"{field} has more than {MAX_INTEGER_DIGITS} integer digits")
    if fraction_digits > MAX_FRACTION_DIGITS:
        raise InvalidInput(
            f"{field} has {fraction_digits} decimal places; at most {MAX_FRACTION_DIGITS} are kept"
        )


def canonical(amount: Decimal) -> str:
    """The shortest exact decimal text: no exponent, no trailing zeros (`1000`, `0.3`)."""
    if amount == 0:
        return "0"
    text = format(_normalized(amount), "f")
    return text


def quantize_stored(amount: Decimal) -> Decimal:
    """Strip representation noise (`1000.0000000000` from NUMERIC columns) without rounding."""
    return Decimal(canonical(amount))
