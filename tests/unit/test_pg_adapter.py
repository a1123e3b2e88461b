"""`store/pg/driver.py` runs statements on the asyncpg connection under SQLAlchemy's adapter
and uses a few of the adapter's private parts to do so. SQLAlchemy is pinned to the minor
version tested (pyproject.toml); if an upgrade moves one of those parts, this fails naming it
rather than the gate failing at its first statement."""

from __future__ import annotations

import pytest
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection

from grantledger.store.pg.driver import ADAPTER_ATTRIBUTES


@pytest.mark.parametrize("name", ADAPTER_ATTRIBUTES)
def test_sqlalchemys_asyncpg_adapter_still_has(name: str) -> None:
    assert hasattr(AsyncAdapt_asyncpg_connection, name), (
        f"SQLAlchemy's asyncpg adapter no longer has {name}: store/pg/driver.py must follow it"
    )


def test_the_named_parameters_compile_to_asyncpg_numbers() -> None:
    from grantledger.store.pg.statement import Statement

    s = Statement("SELECT :a::text[], :b, :a WHERE x = ANY(:c::int[]) AND y = 'k:v'")
    assert s.sql == "SELECT $1::text[], $2, $1 WHERE x = ANY($3::int[]) AND y = 'k:v'"
    assert s.bind({"c": 3, "a": 1, "b": 2}) == [1, 2, 3]
    with pytest.raises(TypeError, match="missing"):
        s.bind({"a": 1, "b": 2})
    with pytest.raises(TypeError, match="unexpected"):
        s.bind({"a": 1, "b": 2, "c": 3, "d": 4})


def test_the_backend_list_names_no_module_of_its_own_package() -> None:
    """`store/pg/__init__.py` imports the portable modules it pairs with; a name there equal to
    one of the package's own modules (`gate`, `usage`) would be replaced by that module on its
    first import, pairing a PostgreSQL statement with itself."""
    from pathlib import Path

    import grantledger.store.pg as pg
    from grantledger.store.backend import key_of
    from grantledger.store.pg import REPLACED

    for module in Path(pg.__file__).parent.glob("*.py"):
        if module.stem != "__init__":
            assert getattr(pg, module.stem).__name__ == f"grantledger.store.pg.{module.stem}"
    for portable, replacement in REPLACED:
        assert not key_of(portable.portable).startswith("grantledger.store.pg.")
        assert replacement.__module__.startswith("grantledger.store.pg.")
