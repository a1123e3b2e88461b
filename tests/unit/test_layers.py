"""The layering of docs/design.md, checked on the source: every package and top-level module
has a place in one order and imports only what comes before it; the areas inside a layer
import each other without a cycle; the domain imports no I/O; the SDK imports nothing of the
server."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "grantledger"
# Every package and top-level module of src/grantledger, in layer order: each may import only
# those before it (and itself). `client` stands apart: it imports nothing of the server.
ORDER = (
    "domain",
    "clock",
    "logs",
    "store",
    "config",
    "service",
    "api",
    "console",
    "server",
    "cli",
    "__main__",
)
STANDALONE = ("client",)
# The package's own `__init__` (the version) may be imported by anyone.
SHARED = {"grantledger"}
# The api layer may use store records (frozen dataclasses) and start the database; never a
# table, a query function or SQLAlchemy itself.
API_STORE_ALLOWED = {
    "grantledger.store.parties.parties": {"AccountRecord", "CustomerRecord"},
    "grantledger.store.credits.credits": {"CreditRecord"},
    "grantledger.store.credits.credit_transactions": {"TransactionRecord"},
    "grantledger.store.books.journal": {"JournalRow"},
    "grantledger.store.books.audit": {"AuditRow"},
    "grantledger.store.database": {"Database"},
    "grantledger.store.migrate": {"schema_is_current"},
    "grantledger.store.notifications.alerts": {"AlertRecord", "IncidentRecord"},
    "grantledger.store.notifications.webhooks": {"EndpointRecord"},
    "grantledger.store.notifications.outbox": {"BacklogRecord", "MessageRecord"},
    "grantledger.store.notifications.auto_topups": {"TopupRecord"},
}
# The console renders the API's wire shapes; it never calls a route.
CONSOLE_API_ALLOWED = ("grantledger.api.schemas", "grantledger.api.wire")


def _imports(path: Path) -> list[tuple[str, set[str]]]:
    found: list[tuple[str, set[str]]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, {a.name for a in node.names}))
        elif isinstance(node, ast.Import):
            found.extend((a.name, set()) for a in node.names)
    return found


def _modules(unit: str) -> list[Path]:
    package = SRC / unit
    if package.is_dir():
        return sorted(package.rglob("*.py"))
    return [SRC / f"{unit}.py"]


def _unit_of(module: str) -> str | None:
    """The layer unit a `grantledger.…` module belongs to (None: not ours)."""
    parts = module.split(".")
    if parts[0] != "grantledger":
        return None
    return parts[1] if len(parts) > 1 else "grantledger"


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_every_package_and_module_has_a_place() -> None:
    found = {p.stem if p.is_file() else p.name for p in SRC.iterdir() if p.name != "__pycache__"}
    found = {f for f in found if (SRC / f).is_dir() or (SRC / f"{f}.py").exists()}
    found -= {"__init__", "py"}
    assert found == set(ORDER) | set(STANDALONE)


@pytest.mark.parametrize("unit", ORDER)
def test_a_unit_imports_only_the_units_before_it(unit: str) -> None:
    allowed = set(ORDER[: ORDER.index(unit) + 1]) | SHARED
    bad = [
        f"{path.relative_to(SRC)} imports {module}"
        for path in _modules(unit)
        for module, _ in _imports(path)
        if (found := _unit_of(module)) is not None and found not in allowed
    ]
    assert bad == []


def _area_of(module: str) -> str:
    """A layer's area: `grantledger.service.credits.holds` → `service.credits`; a module at a
    layer's top (`grantledger.store.database`) is an area of its own."""
    parts = module.split(".")[1:] or ["grantledger"]
    return ".".join(parts[:2])


def _area_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        here = _area_of(_module_name(path))
        for module, names in _imports(path):
            if _unit_of(module) in (None, "grantledger"):
                continue
            # `from grantledger.service import credits` names an area by the module imported.
            inside = len(module.split(".")) > 2
            for target in [module] if inside or not names else [f"{module}.{n}" for n in names]:
                there = _area_of(target)
                if there != here:
                    graph.setdefault(here, set()).add(there)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    trail: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        trail.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*trail[trail.index(nxt) :], nxt]
            if state.get(nxt) is None and (found := visit(nxt)):
                return found
        trail.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if state.get(node) is None and (found := visit(node)):
            return found
    return None


def test_no_cycle_between_packages_or_areas() -> None:
    assert _cycle(_area_graph()) is None


def test_the_cycle_check_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}}) is None


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


def test_the_console_uses_wire_shapes_not_routes() -> None:
    bad = [
        f"{path.relative_to(SRC)} imports {module}"
        for path in _modules("console")
        for module, _ in _imports(path)
        if module.startswith("grantledger.api") and not module.startswith(CONSOLE_API_ALLOWED)
    ]
    assert bad == []


def test_the_client_imports_nothing_of_the_server() -> None:
    bad = [
        f"{path.relative_to(SRC)} imports {module}"
        for path in _modules("client")
        for module, _ in _imports(path)
        if _unit_of(module) not in (None, "grantledger", "client")
    ]
    assert bad == []


def test_only_the_database_opening_chooses_postgresqls_statements() -> None:
    """`store/pg/` is imported by itself and by `store/database.py` (which picks the backend
    once); no query reaches for a PostgreSQL text directly."""
    bad = [
        f"{path.relative_to(SRC)} imports {module}"
        for path in SRC.rglob("*.py")
        if path.relative_to(SRC).parts[:2] != ("store", "pg")
        and path.relative_to(SRC) != Path("store/database.py")
        for module, _ in _imports(path)
        if module.startswith("grantledger.store.pg")
    ]
    assert bad == []
