"""The brake on guessing keys (service/operations/attempts.py): failures per address, a probe a
second once they are spent, and keys accepted lately always looked up."""

from __future__ import annotations

from grantledger.config import Rate
from grantledger.service.operations.attempts import Attempts


def test_an_address_out_of_failures_is_braked_but_the_right_key_is_not_locked_out() -> None:
    brake = Attempts(Rate(0.001, 2))
    assert brake.may_look_up("10.0.0.1", "gl_a") == 0
    assert brake.failed("10.0.0.1") == 0
    assert brake.failed("10.0.0.1") == 0
    assert brake.failed("10.0.0.1") > 0  # spent: 429 from now on
    # One probe (a lookup) is allowed, then none until a second has passed.
    assert brake.may_look_up("10.0.0.1", "gl_b") == 0
    assert brake.may_look_up("10.0.0.1", "gl_c") > 0
    assert brake.may_look_up("10.0.0.1", None) > 0  # no key: nothing to look up
    # A key accepted lately is always looked up; other addresses are untouched.
    brake.accepted("gl_right")
    assert brake.may_look_up("10.0.0.1", "gl_right") == 0
    assert brake.may_look_up("10.0.0.2", "gl_c") == 0


def test_no_brake_when_the_limit_is_off() -> None:
    brake = Attempts(Rate(0.0, 0.0))
    assert all(brake.failed("10.0.0.1") == 0 for _ in range(1000))
    assert brake.may_look_up("10.0.0.1", "gl_x") == 0
