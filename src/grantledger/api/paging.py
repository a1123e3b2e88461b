"""Page tokens: opaque, signed with the server secret, bound to one tenant and one query."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from decimal import Decimal, InvalidOperation

from grantledger.domain.errors import InvalidInput

MAX_PAGE_SIZE = 50
MAX_TOKEN = 500


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class PageTokens:
    def __init__(self, secret: str) -> None:
        self._key = secret.encode()

    def _sign(self, scope: str, payload: bytes) -> bytes:
        return hmac.new(self._key, scope.encode() + b"\x00" + payload, hashlib.sha256).digest()[:18]

    def encode(self, scope: str, last_key: str | None) -> str | None:
        if last_key is None:
            return None
        payload = json.dumps({"k": last_key}, separators=(",", ":")).encode()
        return f"{_b64(payload)}.{_b64(self._sign(scope, payload))}"

    def decode(self, scope: str, token: str | None) -> str | None:
        """The key to continue after; a forged, altered or foreign token is a 400."""
        if token is None or token == "":
            return None
        invalid = InvalidInput("nextToken is not valid for this request; start again without it")
        if len(token) > MAX_TOKEN or token.count(".") != 1:
            raise invalid
        body, signature = token.split(".")
        try:
            payload, given = _unb64(body), _unb64(signature)
        except (binascii.Error, ValueError) as exc:
            raise invalid from exc
        if not hmac.compare_digest(given, self._sign(scope, payload)):
            raise invalid
        key = json.loads(payload).get("k")
        if not isinstance(key, str):
            raise invalid
        return key


def page_size(raw: str | None) -> int:
    """`pageSize` as the client sends it: `10`, or `10.0` for the APIs typed as number."""
    if raw is None or raw == "":
        return MAX_PAGE_SIZE
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:
        raise InvalidInput("pageSize must be a whole number from 1 to 50") from exc
    if (
        not value.is_finite()
        or value != value.to_integral_value()
        or not 1 <= value <= MAX_PAGE_SIZE
    ):
        raise InvalidInput("pageSize must be a whole number from 1 to 50")
    return int(value)
