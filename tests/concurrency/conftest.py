"""The race tests' own servers run unmeasured by coverage: they exercise the code paths of
tests/api again, only harder, and tracing their workers made this tier nearly twice as slow."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# Set by coverage's `patch = ["subprocess"]` (pyproject.toml) for the processes to measure.
COVERAGE_ENV = "COVERAGE_PROCESS_CONFIG"


@pytest.fixture(scope="module", autouse=True)
def unmeasured_servers() -> Iterator[None]:
    # Module scope and autouse: in place before the modules' own server fixtures start.
    saved = os.environ.pop(COVERAGE_ENV, None)
    yield
    if saved is not None:
        os.environ[COVERAGE_ENV] = saved
