"""PostgreSQL texts written with named parameters (`:org_id`), compiled once to asyncpg's
numbered ones (`$1`): a parameter is named where it is used, and a call binds by name, so a
text cannot silently shift its arguments when a parameter is added."""

from __future__ import annotations

import re
from typing import Any

# `:name`, but not the second colon of a cast (`::text[]`) nor a name's inside.
_NAMED = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)\b")


class Statement:
    """A fixed text, its parameter names in `$n` order, and the binding of a call."""

    def __init__(self, text: str) -> None:
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in names:
                names.append(name)
            return f"${names.index(name) + 1}"

        self.text = text
        self.sql = _NAMED.sub(number, text)
        self.names = tuple(names)

    def bind(self, values: dict[str, Any]) -> list[Any]:
        """The arguments in `$n` order; every name exactly once, nothing else."""
        missing = [n for n in self.names if n not in values]
        extra = sorted(set(values) - set(self.names))
        if missing or extra:
            raise TypeError(f"statement parameters: missing {missing}, unexpected {extra}")
        return [values[n] for n in self.names]
