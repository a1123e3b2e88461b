"""The `grantledger` command line: keys, migrate, serve's key bootstrap, verify, help.

Every test that writes works on its own fresh SQLite file, so tampering with rows for
`verify` never touches the databases the other tests share.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest
from typer.testing import CliRunner

from grantledger.cli import _curl_example, app
from grantledger.store.migrate import head_revision
from tests.helpers import grant, new_account
from tests.servers import Server, run_cli

KEY_LINE = re.compile(r"API key for organization 'default': (gl_\w+)… \((.+)\)")
TRY_LINE = re.compile(r"^Try:  (curl .+)$", re.MULTILINE)


def _sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def _rows(db: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute(sql, args))


def _execute(db: Path, sql: str, *args: object) -> None:
    conn = sqlite3.connect(db)
    try:
        conn.execute(sql, args)
        conn.commit()
    finally:
        conn.close()


def _ok(r: httpx.Response) -> object:
    assert r.status_code in (200, 201), r.text
    return r.json()


def _start(
    db: Path, state: Path, bootstrap_key: str | None, key_file: Path | None = None
) -> Server:
    with pytest.MonkeyPatch.context() as env:
        if bootstrap_key is None:
            env.delenv("GRANTLEDGER_BOOTSTRAP_KEY", raising=False)
        else:
            env.setenv("GRANTLEDGER_BOOTSTRAP_KEY", bootstrap_key)
        extra = {"GRANTLEDGER_BOOTSTRAP_KEY_FILE": str(key_file)} if key_file else {}
        server = Server(database_url=_sqlite_url(db), clock_file=state / "clock", env=extra)
        server.start(state)
    return server


def _log(server: Server) -> str:
    assert server.log_path is not None
    return server.log_path.read_text()


def _run_printed_curl(log: str, **env: str) -> httpx.Response:
    """Run the curl command exactly as `serve` printed it (in a shell with `env`); returns its
    output as a response."""
    match = TRY_LINE.search(log)
    assert match, log
    done = subprocess.run(
        ["bash", "-c", match.group(1) + " -w '\\n%{http_code}'"],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin", **env},
    )
    assert done.returncode == 0, done.stderr
    body, _, status = done.stdout.rpartition("\n")
    return httpx.Response(int(status), content=body.encode())


def _org_name_of(db: Path, key: str) -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()
    [(name,)] = _rows(
        db,
        "SELECT o.name FROM api_keys k JOIN organizations o ON o.id = k.org_id "
        "WHERE k.key_hash = ?",
        digest,
    )
    assert isinstance(name, str)
    return name


# --- help -----------------------------------------------------------------------------------


def test_help_of_the_command_and_every_subcommand() -> None:
    script = Path(sys.executable).parent / "grantledger"
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for command in ("serve", "migrate", "keys", "verify", "export", "GRANTLEDGER_DATABASE_URL"):
        assert command in done.stdout

    runner = CliRunner()
    expected = {
        ("serve",): ["--host", "--port", "--workers"],
        ("migrate",): ["migrations"],
        ("keys",): ["create"],
        ("keys", "create"): ["--org"],
        ("verify",): ["ledger"],
        ("export",): ["--org", "--format", "--after", "--from", "--to", "journal"],
        ("report", "month-close"): ["--org", "--month", "--account", "closing"],
    }
    for args, words in expected.items():
        result = runner.invoke(app, [*args, "--help"], prog_name="grantledger")
        assert result.exit_code == 0, result.output
        assert f"Usage: grantledger {' '.join(args)}" in result.output
        for word in words:
            assert word in result.output, (args, word)
    # Nothing at all prints the help too, instead of doing something.
    assert runner.invoke(app, [], prog_name="grantledger").exit_code in (0, 2)
    unknown = runner.invoke(app, ["frobnicate"], prog_name="grantledger")
    assert unknown.exit_code == 2


# --- keys, `make run`, verify: one development database --------------------------------------


@dataclass
class Dev:
    db: Path
    key: str  # what `make run` keeps in data/dev-api-key
    server: Server


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    """What `make run` does: `keys create --org default > data/dev-api-key`, then
    `GRANTLEDGER_BOOTSTRAP_KEY_FILE=data/dev-api-key grantledger serve`."""
    state = tmp_path_factory.mktemp("dev")
    db = state / "grantledger.db"
    made = run_cli(_sqlite_url(db), "keys", "create", "--org", "default")
    assert made.returncode == 0, made.stderr
    (state / "dev-api-key").write_text(made.stdout)
    key = (state / "dev-api-key").read_text().strip()
    server = _start(db, state, None, key_file=state / "dev-api-key")
    yield Dev(db, key, server)
    server.stop()


def test_keys_create_prints_one_working_key_and_stores_only_its_hash(dev: Dev) -> None:
    made = run_cli(_sqlite_url(dev.db), "keys", "create", "--org", "acme")
    assert made.returncode == 0, made.stderr
    assert made.stdout.count("\n") == 1  # just the key: `> data/dev-api-key` must capture it whole
    key = made.stdout.strip()
    assert re.fullmatch(r"gl_[0-9A-Za-z]{40}", key), key

    with dev.server.client(key) as acme, dev.server.client(dev.key) as default:
        assert _ok(acme.get("/credits")) == {"data": []}
        # Two organizations: what `default` grants, `acme` cannot see.
        credit = grant(default, new_account(default), 10)
        assert _ok(acme.get("/credits", params={"id": credit["id"]})) == {"data": []}
    assert _org_name_of(dev.db, key) == "acme"

    stored = _rows(dev.db, "SELECT * FROM api_keys")
    assert len(stored) == 2
    assert all(key not in repr(row) and dev.key not in repr(row) for row in stored)
    hashes = {row[0] for row in _rows(dev.db, "SELECT key_hash FROM api_keys")}
    assert hashlib.sha256(key.encode()).hexdigest() in hashes
    for path in dev.db.parent.glob("grantledger.db*"):
        assert key.encode() not in path.read_bytes(), path


def test_make_run_prints_the_default_key_and_a_curl_that_works(dev: Dev) -> None:
    log = _log(dev.server)
    match = KEY_LINE.search(log)
    # Only the prefix: the whole key is never written to the log.
    assert match and dev.key.startswith(match.group(1)) and len(match.group(1)) == 8, log
    assert dev.key not in log and dev.key[8:16] not in log
    r = _run_printed_curl(log)
    assert r.status_code == 200, r.text
    assert "data" in r.json()
    assert _org_name_of(dev.db, dev.key) == "default"
    # The key already existed: serving it created no second one.
    assert _rows(
        dev.db,
        "SELECT count(*) FROM api_keys WHERE org_id = "
        "(SELECT id FROM organizations WHERE name = 'default')",
    ) == [(1,)]


def test_verify_is_clean_then_names_each_tampered_figure(dev: Dev) -> None:
    with dev.server.client(dev.key) as api:
        account = new_account(api)
        spent = grant(api, account, 100)["id"]
        held = grant(api, account, 50, priority=5)["id"]
        body = {"invoiceId": "inv-1", "lines": [{"entityId": "api-calls", "amount": 30}]}
        _ok(api.post(f"/accounts/{account}/credit_debits", json=body))
        body = {"invoiceId": "inv-2", "lines": [{"entityId": "api-calls", "amount": 90}]}
        _ok(api.post(f"/accounts/{account}/credit_holds", json=body))
        _ok(
            api.post(
                "/event_schema",
                json={"name": "ai_call", "attributes": [{"name": "tokens"}], "dimensions": []},
            )
        )
        _ok(
            api.post(
                "/features",
                json={
                    "id": "ai-tokens",
                    "name": "AI tokens",
                    "schemaAssociations": [{"schemaName": "ai_call", "attributeName": "tokens"}],
                },
            )
        )
        entry = _ok(
            api.post(f"/accounts/{account}/features/ai-tokens/entries", json={"granted": 1000})
        )
        assert isinstance(entry, dict)
        event = {
            "schemaName": "ai_call",
            "id": "evt-1",
            "timestamp": datetime.now(UTC).isoformat(),  # after the entry began
            "accountId": account,
            "attributes": [{"name": "tokens", "value": "120"}],
            "dimensions": {},
        }
        assert _ok(api.post("/entitled", json={"event": event})) == {"success": True}

    url = _sqlite_url(dev.db)
    clean = run_cli(url, "verify")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert clean.stdout == ""
    assert "consistent" in clean.stderr

    # Caches on rows, changed behind the ledger's back.
    _execute(dev.db, "UPDATE credits SET consumed_amount = '31' WHERE id = ?", spent)
    _execute(dev.db, "UPDATE credits SET hold_amount = '1' WHERE id = ?", held)
    _execute(dev.db, "UPDATE feature_entries SET used = '119' WHERE id = ?", entry["id"])
    tampered = run_cli(url, "verify")
    assert tampered.returncode == 1, tampered.stdout + tampered.stderr
    lines = tampered.stdout.splitlines()
    assert any(spent in line and "consumedAmount" in line and "31" in line for line in lines)
    assert any(held in line and "holdAmount" in line for line in lines)
    assert any(entry["id"] in line and "used is 119" in line and "120" in line for line in lines)
    assert "mismatch" in tampered.stderr


# --- serve without any key ---------------------------------------------------------------


def test_serve_creates_a_key_when_there_is_none_and_never_logs_it(tmp_path: Path) -> None:
    db = tmp_path / "fresh.db"
    key_file = tmp_path / "keys" / "bootstrap-api-key"
    first = _start(db, tmp_path, None, key_file=key_file)
    try:
        log = _log(first)
        match = KEY_LINE.search(log)
        assert match, log
        key = key_file.read_text().strip()
        assert key.startswith(match.group(1)) and str(key_file) in match.group(2)
        assert key not in log and key[8:] not in log
        assert key_file.stat().st_mode & 0o777 == 0o600
        assert _run_printed_curl(log).status_code == 200
        with first.client(key) as api:
            credit = grant(api, new_account(api), 5)
    finally:
        first.stop()
    assert _org_name_of(db, key) == "default"
    assert len(_rows(db, "SELECT * FROM api_keys")) == 1

    # A chosen bootstrap key joins the same organization `default`, and is not logged either.
    chosen = "gl_my-own-development-key"
    second = _start(db, tmp_path, chosen, key_file=key_file)
    try:
        log = _log(second)
        assert (
            "API key for organization 'default': gl_my-ow… (from GRANTLEDGER_BOOTSTRAP_KEY)" in log
        )
        assert chosen not in log
        assert _run_printed_curl(log, GRANTLEDGER_BOOTSTRAP_KEY=chosen).status_code == 200
        with second.client(chosen) as api:
            listed = _ok(api.get("/credits"))
        assert isinstance(listed, dict)
        assert [c["id"] for c in listed["data"]] == [credit["id"]]
    finally:
        second.stop()
    assert _org_name_of(db, chosen) == "default"
    assert len(_rows(db, "SELECT * FROM api_keys")) == 2


# --- migrate --------------------------------------------------------------------------------


def test_migrate_is_idempotent_on_sqlite(tmp_path: Path) -> None:
    db = tmp_path / "migrated.db"
    url = _sqlite_url(db)
    schema = "SELECT type, name, sql FROM sqlite_master ORDER BY type, name"
    first = run_cli(url, "migrate")
    assert first.returncode == 0, first.stderr
    after_first = _rows(db, schema)
    assert ("table", "credits") in {row[:2] for row in after_first}
    assert _rows(db, "SELECT version_num FROM alembic_version") == [(head_revision(),)]
    second = run_cli(url, "migrate")
    assert second.returncode == 0, second.stderr
    assert _rows(db, schema) == after_first
    assert _rows(db, "SELECT version_num FROM alembic_version") == [(head_revision(),)]


def test_migrate_is_idempotent_on_postgres(pg_url: str) -> None:
    async def state() -> tuple[list[object], list[object]]:
        conn = await asyncpg.connect(pg_url)
        try:
            columns = await conn.fetch(
                "SELECT table_name, column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'public' ORDER BY 1, 2"
            )
            version = await conn.fetch("SELECT version_num FROM alembic_version")
            return [tuple(r) for r in columns], [tuple(r) for r in version]
        finally:
            await conn.close()

    first = run_cli(pg_url, "migrate")
    assert first.returncode == 0, first.stderr
    before = asyncio.run(state())
    assert before[1] == [(head_revision(),)]
    assert any(c[0] == "credit_transactions" for c in before[0])
    second = run_cli(pg_url, "migrate")
    assert second.returncode == 0, second.stderr
    assert asyncio.run(state()) == before


def test_printed_curl_targets_a_reachable_address() -> None:
    # `serve --host 0.0.0.0` listens everywhere, but 0.0.0.0 is no address to send to.
    assert "http://127.0.0.1:8000/credits" in _curl_example("0.0.0.0", 8000, "k")
    assert "http://[::1]:8000/credits" in _curl_example("::", 8000, "k")
    assert "http://[fe80::1]:81/credits" in _curl_example("fe80::1", 81, "k")
    assert "http://10.1.2.3:8000/credits" in _curl_example("10.1.2.3", 8000, "k")
    shown = _curl_example("127.0.0.1", 1, "$GRANTLEDGER_BOOTSTRAP_KEY")
    assert '"Authorization: Bearer $GRANTLEDGER_BOOTSTRAP_KEY"' in shown


def test_verify_on_an_unmigrated_database_says_what_to_do(tmp_path: Path) -> None:
    result = run_cli(f"sqlite:///{tmp_path / 'never-migrated.db'}", "verify")
    assert result.returncode == 2
    assert "grantledger migrate" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
