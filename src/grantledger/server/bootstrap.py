"""The API key `serve` makes sure exists at start, and how it is shown without being logged.

A key is a bearer secret: whatever `serve` prints ends up in log files and log collectors, so it
prints only the key's prefix (what `keys list` shows) and a `curl` that reads the key from where
it is kept — the environment variable it came from, or a file readable by this user only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from grantledger.service.context import Context
from grantledger.service.operations import tenants

ORG = "default"


@dataclass(frozen=True)
class Shown:
    """What the banner says about the bootstrap key: never the key itself."""

    prefix: str
    where: str  # a sentence naming where the whole key is kept
    shell: str  # shell text that expands to the key, for the printed curl
    created: bool


class BootstrapError(Exception):
    """The key file cannot be read or written (one line for the operator)."""


def _read(path: Path) -> str | None:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise BootstrapError(
            f"cannot read GRANTLEDGER_BOOTSTRAP_KEY_FILE {path}: {error.strerror or error}"
        ) from None
    return text or None


def _write(path: Path, key: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Created readable by this user only; O_EXCL: never over a file another process made.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(key + "\n")
    except OSError as error:
        raise BootstrapError(
            f"cannot write the new API key to GRANTLEDGER_BOOTSTRAP_KEY_FILE {path}: "
            f"{error.strerror or error}"
        ) from None


def _cat(path: Path) -> str:
    quoted = str(path.resolve()).replace("'", "'\\''")
    return f"$(cat '{quoted}')"


async def ensure(ctx: Context, given: str | None, key_file: Path) -> Shown | None:
    """Make sure the bootstrap key exists for organization `default`; None when there is none
    to show (keys exist already and no bootstrap key was named)."""
    if given:
        await tenants.ensure_key(ctx, ORG, given)
        return Shown(
            given[: tenants.PREFIX_LENGTH],
            "from GRANTLEDGER_BOOTSTRAP_KEY",
            "$GRANTLEDGER_BOOTSTRAP_KEY",
            created=False,
        )
    kept = _read(key_file)
    if kept is not None:
        await tenants.ensure_key(ctx, ORG, kept)
        return Shown(kept[: tenants.PREFIX_LENGTH], f"kept in {key_file}", _cat(key_file), False)
    if await tenants.has_any_key(ctx):
        return None
    # Written before it is stored: a key in the database that nobody can read is no use.
    key = tenants.generate_key()
    _write(key_file, key)
    await tenants.ensure_key(ctx, ORG, key)
    where = f"written to {key_file.resolve()} (readable by this user only)"
    return Shown(key[: tenants.PREFIX_LENGTH], where, _cat(key_file), created=True)
