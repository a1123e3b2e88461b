"""Examples that must keep running: every `python` block of docs/client.md, and the Togai
documentation's own examples (the seeds) with only the import changed, against a real server
on SQLite and PostgreSQL. Also: the client imports without any server dependency, and its
types hold under `mypy --strict`."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.servers import Server

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "client.md"
# The seeds are Togai's client documentation from the project's specification folder, which sits
# beside the repository's checkout (as CI has it); they are not part of the repository itself.
# CI names the folder explicitly (.ci/run), and then its absence fails the run.
SEEDS_REQUIRED = "GRANTLEDGER_SEEDS_DIR" in os.environ
SEEDS = Path(
    os.environ.get(
        "GRANTLEDGER_SEEDS_DIR", Path(__file__).resolve().parents[3] / "shared" / "seeds"
    )
)
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _blocks(text: str) -> list[tuple[int, str]]:
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in BLOCK.finditer(text)]


def _run(code: str, name: str, namespace: dict[str, Any]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, name, "exec"), namespace)
    return out.getvalue()


def test_docs_python_blocks_run_against_the_server(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRANTLEDGER_HOST", server.base_url)
    monkeypatch.setenv("GRANTLEDGER_API_KEY", server.key())
    blocks = _blocks(DOC.read_text())
    assert len(blocks) >= 12
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    printed = "".join(_run(code, f"{DOC}:{line}", namespace) for line, code in blocks)
    assert "Exception when calling CreditsApi->get_credit_details: (404)" in printed
    assert "refused:" in printed


# --- the seeds: Togai's CreditsApi.md and EntitlementsApi.md examples --------------------------

# What each example prints against a fresh organization holding account ACC00001 and the
# enum feature feat.fdjskl.sdkjl (value "enum1"): its answer, or the status of its error.
EXPECTED: dict[str, str | tuple[int, str]] = {
    "create_credit": (400, "creditRequests"),  # an empty CreateCreditRequest()
    "credit_balance_for_account": "CreditBalanceResponse(active_credits=Decimal('0')",
    "get_credit_details": (404, "credit creds.1znQx9jiIXw.r44fc not found"),
    "list_credits": (400, "nextToken is not valid"),  # a token this server never issued
    "void_credit": (404, "credit creds.1znQx9jiIXw.r44fc not found"),
    "get_entitlement_value": "value='enum1'",
    "get_entitlements": "value='enum1'",
    "get_feature_credits": "granted=Decimal('0')",
    "ingest_entitled_event": (400, "event is required"),  # an empty IngestEventRequest()
    "list_feature_credit_entries": (400, "nextToken is not valid"),
    # `#` and `$` of the entry id reach the server intact.
    "update_feature_credit_entry": (404, "entry purchase.21HbazIT3JQ.D90jC#1$PURCHASE not found"),
    "validate_entitlement_value": "BaseSuccessResponse(success=True)",
    "void_feature_credit_entry": (404, "entry purchase.21HbazIT3JQ.D90jC#1$PURCHASE not found"),
}


def _seed_examples() -> list[tuple[str, str, str]]:
    """(api, method, code) of every example in the two seeds, import changed, host local."""
    found: list[tuple[str, str, str]] = []
    for seed in sorted(SEEDS.glob("00[34]_*.txt")):
        text = seed.read_text()
        for _, code in _blocks(text):
            call = re.search(r"api_instance\.(\w+)\(", code)
            api = re.search(r"togai_client\.(\w+Api)\(api_client\)", code)
            assert call and api, code
            adapted = code.replace(
                "import togai_client\n", "import grantledger.client as togai_client\n"
            )
            adapted = adapted.replace("from togai_client.", "from grantledger.client.")
            adapted = adapted.replace("https://api.togai.com", os.environ["GRANTLEDGER_HOST"])
            found.append((api.group(1), call.group(1), adapted))
    return found


def test_seed_examples_run_with_only_the_import_changed(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    from grantledger.client import (
        ApiClient,
        Configuration,
        CustomersApi,
        EntitlementsApi,
        FeatureApi,
    )

    if not SEEDS.is_dir():
        if SEEDS_REQUIRED:
            pytest.fail(f"GRANTLEDGER_SEEDS_DIR={SEEDS} is not a directory")
        pytest.skip(f"the specification seeds are not beside this checkout ({SEEDS})")
    key = server.key()
    # The examples read os.environ["BEARER_TOKEN"]; their second Configuration drops the host,
    # which then comes from GRANTLEDGER_HOST.
    monkeypatch.setenv("BEARER_TOKEN", key)
    monkeypatch.setenv("GRANTLEDGER_HOST", server.base_url)
    with ApiClient(Configuration(host=server.base_url, access_token=key)) as client:
        CustomersApi(client).create_customer(
            {
                "id": "CUS00001",
                "name": "Seed customer",
                "primaryEmail": "seed@example.com",
                "address": {"country": "US"},
                "account": {"id": "ACC00001", "name": "Seed account"},
            }
        )
        FeatureApi(client).create_feature(
            {
                "id": "feat.fdjskl.sdkjl",
                "name": "Seed",
                "valueType": "ENUM",
                "allowedValues": ["enum1", "enum2"],
            }
        )
        EntitlementsApi(client).set_entitlement_value(
            "ACC00001", "feat.fdjskl.sdkjl", {"value": "enum1"}
        )

    examples = _seed_examples()
    assert sorted(m for _, m, _ in examples) == sorted(EXPECTED)
    for api, method, code in examples:
        # The seeds use `os` without importing it: it is the one name provided.
        printed = _run(code, f"seed {api}.{method}", {"__name__": "__seed__", "os": os})
        expected = EXPECTED[method]
        if isinstance(expected, str):
            assert printed.startswith(f"The response of {api}->{method}:"), printed
            assert expected in printed, printed
        else:
            status, message = expected
            head = f"Exception when calling {api}->{method}: ({status})"
            assert printed.startswith(head), printed
            assert message in printed, printed


# --- no server dependency, and the types hold -------------------------------------------------

IMPORT_ALONE = textwrap.dedent(
    """
    import sys
    for name in ("fastapi", "starlette", "sqlalchemy", "alembic", "asyncpg", "aiosqlite",
                 "uvicorn", "typer", "orjson", "prometheus_client"):
        sys.modules[name] = None  # any import of it now fails
    import grantledger.client as togai_client
    from grantledger.client.models.create_credit_request import CreateCreditRequest
    from grantledger.client.models.ingest_event_request import IngestEventRequest
    from grantledger.client.rest import ApiException
    from grantledger.client.api.credits_api import CreditsApi
    assert togai_client.CreditsApi is CreditsApi
    server = ("api", "store", "service", "domain", "cli")
    server_side = [m for m in sys.modules if m.split(".")[:2][-1] in server
                   and m.startswith("grantledger.")]
    assert not server_side, server_side
    print("ok", togai_client.__version__)
    """
)


def test_the_client_imports_without_server_dependencies() -> None:
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_ALONE], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok ")


TYPED_USE = textwrap.dedent(
    """
    from decimal import Decimal
    from grantledger.client import (
        ApiClient, AsyncApiClient, Configuration, CreditsApi, EntitlementsApi,
    )
    from grantledger.client.models import (
        CreateCreditResponse, Credit, FeatureCreditEntry, GetFeatureCreditsResponse,
    )

    def sync_use(client: ApiClient) -> Decimal | None:
        api = CreditsApi(client)
        made: CreateCreditResponse = api.create_credit(create_credit_request={})
        every: list[Credit] = list(api.iter_credits(account_id="a", page_size=5))
        api.list_credits(bogus=1)  # type: ignore[call-arg]
        return made.credits[0].credit_amount if every else None

    async def async_use(client: AsyncApiClient) -> Decimal:
        api = EntitlementsApi(client)
        credits: GetFeatureCreditsResponse = await api.get_feature_credits("a", "f")
        entries: list[FeatureCreditEntry] = [
            e async for e in api.iter_feature_credit_entries("a", "f", page_size=2)
        ]
        unawaited = api.get_feature_credits("a", "f")
        wrong: GetFeatureCreditsResponse = unawaited  # type: ignore[assignment]
        return credits.balance + sum((e.used for e in entries), Decimal(0))

    Configuration(host="http://x", access_token="t")
    """
)


def test_mypy_strict_passes_on_the_client_and_its_typed_use(tmp_path: Path) -> None:
    """The unused-ignore check makes the two wrong lines prove the types are enforced."""
    sample = tmp_path / "typed_use.py"
    sample.write_text(TYPED_USE)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--warn-unused-ignores",
            "--cache-dir",
            str(ROOT / ".mypy_cache"),
            str(ROOT / "src/grantledger/client"),
            str(sample),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_docs_table_lists_exactly_the_methods_of_each_api_class() -> None:
    import grantledger.client.api as apis

    text = DOC.read_text()
    table = text[text.index("| class | methods |") : text.index("### Customers and accounts")]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert sorted(re.match(r"\| `(\w+)`", row).group(1) for row in rows) == sorted(apis.__all__)  # type: ignore[union-attr]
    for row in rows:
        name = row.split("`")[1]
        listed = set(re.findall(r"`(\w+)`", row.split("|")[2]))
        actual = {a for a in vars(getattr(apis, name)) if not a.startswith("_")}
        assert listed == actual, name
