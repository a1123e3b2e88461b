"""The layering of docs/design.md, checked on the source: each layer imports only the layers
listed before it, the domain imports no I/O, and the SDK imports nothing of the server."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "grantledger"
LAYERS = ("domain", "store", "service", "api")
# The api layer may use store records (frozen dataclasses) and start the database; never a
# table, a query function or SQLAlchemy itself.
API_STORE_ALLOWED = {
    "grantledger.store.parties": {"AccountRecord", "CustomerRecord"},
    "grantledger.store.credits": {"CreditRecord"},
    "grantledger.store.credit_transactions": {"TransactionRecord"},
    "grantledger.store.database": {"Database"},
    "grantledger.store.migrate": {"schema_is_current"},
    "grantledger.store.alerts": {"AlertRecord", "IncidentRecord"},
    "grantledger.store.webhooks": {"EndpointRecord"},
    "grantledger.store.outbox": {"BacklogRecord", "MessageRecord"},
    "grantledger.store.auto_topups": {"TopupRecord"},
}


def _imports(path: Path) -> list[tuple[str, set[str]]]:
    found: list[tuple[str, set[str]]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, {a.name for a in node.names}))
        elif isinstance(node, ast.Import):
            found.extend((a.name, set()) for a in node.names)
    return found


def _modules(layer: str) -> list[Path]:
    return sorted((SRC / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", LAYERS)
def test_a_layer_imports_only_the_layers_before_it(layer: str) -> None:
    later = {f"grantledger.{name}" for name in LAYERS[LAYERS.index(layer) + 1 :]}
    later |= {"grantledger.client", "grantledger.cli"}
    bad = [
        f"{path.relative_to(SRC)} imports {module}"
        for path in _modules(layer)
        for module, _ in _imports(path)
        if any(module == top or module.startswith(top + ".") for top in later)
    ]
    assert bad == []


def test_the_domain_has_no_io() -> None:
    io = ("sqlalchemy", "fastapi", "httpx", "asyncpg", "aiosqlite", "starlette", "os", "socket")
    bad = [
        f"{path.relative_to(SRC)} imports {module}"
        for path in _modules("domain")
        for module, _ in _imports(path)
        if module.split(".")[0] in io
    ]
    assert bad == []


def test_the_api_uses_store_records_not_queries() -> None:
    bad = []
    for path in _modules("api"):
        for module, names in _imports(path):
            if module.split(".")[0] == "sqlalchemy":
                bad.append(f"{path.relative_to(SRC)} imports {module}")
            if not module.startswith("grantledger.store"):
                continue
            allowed = API_STORE_ALLOWED.get(module)
            if allowed is None and module.startswith("grantledger.store.entitlements."):
                allowed = {n for n in names if n.endswith("Record")}
            extra = names - (allowed or set())
            if extra:
                bad.append(f"{path.relative_to(SRC)} imports {sorted(extra)} from {module}")
    assert bad == []


def test_the_client_imports_nothing_of_the_server() -> None:
    server = tuple(f"grantledger.{name}" for name in (*LAYERS, "cli", "config", "clock", "logs"))
    bad = [
        f"{path.relative_to(SRC)} imports {module}"
        for path in _modules("client")
        for module, _ in _imports(path)
        if any(module == top or module.startswith(top + ".") for top in server)
    ]
    assert bad == []
