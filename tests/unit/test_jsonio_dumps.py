"""The wire's JSON writer: exact decimals, and integers wider than 64 bits (which a caller may
send in a passthrough field such as a purchase's associationOverride) written as received
instead of failing the request with a 500."""

from __future__ import annotations

from decimal import Decimal

import orjson

from grantledger.api.jsonio import dumps


def test_integers_wider_than_64_bits_are_written_exactly() -> None:
    wide = 2181394946618258799194013696
    content = {"b": [wide, -(2**70), {"n": 2**64}], "a": Decimal("1.50"), "ok": 2**63 - 1}
    text = dumps(content, sort_keys=True)
    assert text.startswith(b'{"a":')
    assert str(wide).encode() in text and str(-(2**70)).encode() in text
    assert orjson.loads(text)["b"][2] == {"n": 2**64}
    assert orjson.loads(text)["ok"] == 2**63 - 1


def test_booleans_stay_booleans_beside_wide_integers() -> None:
    assert dumps([True, 2**80]) == f"[true,{2**80}]".encode()
