"""tests/unit is pure: no database, no server. Asking for one here fails at once, instead of
quietly starting servers under `make unit`; such a test belongs in tests/api."""

from __future__ import annotations

from typing import NoReturn

import pytest


@pytest.fixture(scope="session")
def database_urls() -> NoReturn:
    # `server`, `api`, `clock` and `pg_url` all stand on this fixture (tests/conftest.py).
    pytest.fail("a unit test asked for a database or a server: move it to tests/api")
