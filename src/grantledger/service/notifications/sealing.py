"""Webhook signing secrets: made, sealed for the database, opened to sign, and the signature.

A secret is stored *sealed* with a server key that is not in the database, so a dump of the
database alone cannot sign a webhook. The key is `GRANTLEDGER_SECRET_KEY` (base64 or any text
of 32+ characters) or, without it, the file `GRANTLEDGER_SECRET_KEY_FILE` (default
`./data/grantledger.key`), created with mode 0600 on first use. Every process serving one
database must see the same key (docs/operations.md).

The seal is encrypt-then-MAC from the standard library alone: a keystream of HMAC-SHA256 blocks
over a random nonce (a PRF in counter mode) XORed with the secret, then an HMAC-SHA256 tag over
nonce and ciphertext; encryption and tag use separate keys derived from the server key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

PREFIX = "whsec_"
_NONCE = 16
_TAG = 16


class SealError(Exception):
    """A sealed secret does not open with this server's key (another key, or tampered)."""


def _key_from_text(text: str) -> bytes:
    return hashlib.sha256(b"grantledger-server-key\x00" + text.strip().encode()).digest()


def load_server_key() -> bytes:
    """The server key; a missing key file is created. SystemExit (one line) when unusable."""
    given = os.environ.get("GRANTLEDGER_SECRET_KEY", "")
    if given.strip():
        if len(given.strip()) < 32:
            raise SystemExit("GRANTLEDGER_SECRET_KEY must be at least 32 characters")
        return _key_from_text(given)
    path = Path(os.environ.get("GRANTLEDGER_SECRET_KEY_FILE", "./data/grantledger.key"))
    try:
        text = _read_or_create(path)
    except OSError as error:
        raise SystemExit(
            f"cannot use the server key file {path} (GRANTLEDGER_SECRET_KEY_FILE): "
            f"{error.strerror or error}"
        ) from None
    if len(text) < 32:
        raise SystemExit(f"the server key file {path} is empty or too short")
    return _key_from_text(text)


def _read_or_create(path: Path) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # O_EXCL: of several processes starting at once, one writes and the rest read it.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as out:
                out.write(base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
    text = ""
    for _ in range(50):  # a concurrent creator may not have written its line yet
        text = path.read_text().strip()
        if text:
            break
        time.sleep(0.02)  # float-ok: seconds
    return text


def _subkey(key: bytes, purpose: bytes) -> bytes:
    return hmac.new(key, purpose, hashlib.sha256).digest()


def _keystream(key: bytes, nonce: bytes, length: int) -> bytes:
    blocks = bytearray()
    counter = 0
    while len(blocks) < length:
        blocks += hmac.new(key, nonce + counter.to_bytes(8, "big"), hashlib.sha256).digest()
        counter += 1
    return bytes(blocks[:length])


def seal(key: bytes, secret: str) -> str:
    nonce = secrets.token_bytes(_NONCE)
    plain = secret.encode()
    stream = _keystream(_subkey(key, b"encrypt"), nonce, len(plain))
    cipher = bytes(a ^ b for a, b in zip(plain, stream, strict=True))
    tag = hmac.new(_subkey(key, b"mac"), nonce + cipher, hashlib.sha256).digest()[:_TAG]
    return "v1." + base64.urlsafe_b64encode(nonce + cipher + tag).decode()


def unseal(key: bytes, sealed: str) -> str:
    if not sealed.startswith("v1."):
        raise SealError("unknown seal version")
    raw = base64.urlsafe_b64decode(sealed[3:])
    nonce, cipher, tag = raw[:_NONCE], raw[_NONCE:-_TAG], raw[-_TAG:]
    expected = hmac.new(_subkey(key, b"mac"), nonce + cipher, hashlib.sha256).digest()[:_TAG]
    if not hmac.compare_digest(tag, expected):
        raise SealError("the secret was sealed with another server key")
    stream = _keystream(_subkey(key, b"encrypt"), nonce, len(cipher))
    return bytes(a ^ b for a, b in zip(cipher, stream, strict=True)).decode()


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """The Standard Webhooks `webhook-signature` value: `v1,<base64 HMAC-SHA256>`."""
    key = base64.b64decode(secret.removeprefix(PREFIX))
    signed = f"{message_id}.{timestamp}.{body}".encode()
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
