"""The sign-in form's share of the brake on guessing keys (service/operations/attempts.py).

The form is one more place to try a key, so it is held to the API door's rule: wrong keys are
charged to the address's failed-authentication budget, which both doors share. Spending it never
locks out the right key: the key is looked up first whenever the brake allows, and a right key
always signs in (a key used lately always, any other at least once a second per address).
"""

from __future__ import annotations

import math

from grantledger.console.guard import Refused
from grantledger.service.operations import attempts


def _refusal(wait: float) -> Refused:  # float-ok: seconds
    seconds = max(1, math.ceil(wait))
    return Refused(429, f"too many failed sign-ins from this address; retry in {seconds} s")


def check(address: str, key: str) -> None:
    """Refuse (429) before the key is looked up, when the brake says so."""
    wait = attempts.current().may_look_up(address, key or None)
    if wait:
        raise _refusal(wait)


def failed(address: str) -> Refused | None:
    """Charge a wrong key; the 429 to answer once the address's failures are spent."""
    wait = attempts.current().failed(address)
    return _refusal(wait) if wait else None


def accepted(key: str) -> None:
    attempts.current().accepted(key)
