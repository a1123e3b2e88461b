"""Backup and restore as docs/operations.md tells an operator to do them, on a live database.

The backup is taken while the server runs; a server started on the restored copy answers with
the same balance and `grantledger verify` finds the copy consistent.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.helpers import balance, grant, new_account
from tests.servers import Server, create_postgres_database, drop_postgres_database, run_cli


def _restored_answers_the_same(
    url: str, tmp_path: Path, key: str, account: str, expected: dict[str, object]
) -> None:
    assert run_cli(url, "verify").returncode == 0
    copy = Server(database_url=url, clock_file=tmp_path / "clock")
    copy.start(tmp_path)
    try:
        with copy.client(key) as api:
            assert balance(api, account) == expected
    finally:
        copy.stop()


def test_backup_while_serving_then_restore(server: Server, tmp_path: Path) -> None:
    server.set_clock(None)
    key = server.key()
    with server.client(key) as api:
        account = new_account(api)
        grant(api, account, 125)
        expected = balance(api, account)
    if server.database_url.startswith("sqlite"):
        live = server.database_url.removeprefix("sqlite:///")
        backup = tmp_path / "backup.db"
        # docs/operations.md: `sqlite3 grantledger.db "VACUUM INTO 'backup.db'"`
        with sqlite3.connect(live) as conn:
            conn.execute("VACUUM INTO ?", (str(backup),))
        restored = tmp_path / "restored.db"
        shutil.copy(backup, restored)
        _restored_answers_the_same(f"sqlite:///{restored}", tmp_path, key, account, expected)
        return
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        pytest.fail("pg_dump and pg_restore are needed (apt-get install postgresql-client)")
    dump = tmp_path / "grantledger.dump"
    subprocess.run(
        ["pg_dump", "--format=custom", f"--file={dump}", server.database_url], check=True
    )
    target = create_postgres_database()
    assert target is not None
    try:
        subprocess.run(["pg_restore", "--no-owner", f"--dbname={target}", str(dump)], check=True)
        _restored_answers_the_same(target, tmp_path, key, account, expected)
    finally:
        drop_postgres_database(target)
