"""docs/api.md §13 lists every operation of the official client, and says "supported" exactly
for those the server routes: read from the client's own modules and the server's OpenAPI
document, so a new route or a new client version shows up here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import togai_client.api

from grantledger.config import Settings
from grantledger.server.app import create_app

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"
_OPERATION = re.compile(r"def _(\w+)_serialize\(.*?method='(\w+)',\s*resource_path='([^']+)'", re.S)


def _client_operations() -> dict[tuple[str, str], str]:
    found: dict[tuple[str, str], str] = {}
    for module in sorted(Path(togai_client.api.__file__).parent.glob("*_api.py")):
        text = module.read_text()
        match = re.search(r"^class (\w+)", text, re.M)
        assert match is not None
        for op, method, path in _OPERATION.findall(text):
            found[(match.group(1), op)] = f"{method} {path}"
    return found


def _routed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> set[str]:
    monkeypatch.setenv("GRANTLEDGER_DATABASE_URL", f"sqlite:///{tmp_path / 'ops.db'}")
    document = create_app(Settings.from_env()).openapi()
    return {
        f"{method.upper()} {re.sub(r'{[^}]+}', '{}', path)}"
        for path, operations in document["paths"].items()
        for method in operations
    }


def test_the_table_names_every_client_operation_and_what_is_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    operations = _client_operations()
    assert len(operations) > 100  # the client's modules were read
    section = DOCS.read_text().split("## 13. Every Togai client operation", 1)[1]
    rows = re.findall(r"^\| `(\w+)` \| `(\w+)` \| `([^`]+)` \| ([^|]+) \|$", section, re.M)
    documented = {(cls, op): (http, here.strip()) for cls, op, http, here in rows}
    assert set(documented) == set(operations)
    routed = _routed(tmp_path, monkeypatch)
    wrong = []
    for key, http in operations.items():
        shown_http, here = documented[key]
        served = re.sub(r"{[^}]+}", "{}", http) in routed
        if shown_http != http or (here == "supported") != served:
            wrong.append(f"{key}: {shown_http} '{here}' but served={served}")
        if not served and not here.startswith("not supported: "):
            wrong.append(f"{key}: says '{here}' without what to use instead")
    assert wrong == []
