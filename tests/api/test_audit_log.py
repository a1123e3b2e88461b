"""The audit log (issue 22): every mutating route, walked from the server's own
/openapi.json, leaves exactly one row naming the key that asked — applied or refused — and
another organization's key sees none of them."""

from __future__ import annotations

import re
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import httpx

from tests.helpers import (
    error_message,
    grant,
    grant_entry,
    new_account,
    new_feature,
    new_schema,
    usage_event,
)
from tests.servers import Server, run_cli

MUTATING = ("post", "put", "patch", "delete")
SETTLE_SECONDS = 30


def _audit_rows(api: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    after = None
    while True:
        r = api.get("/audit_log", params={**params, **({"after": after} if after else {})})
        assert r.status_code == 200, r.text
        body = r.json()
        rows.extend(body["data"])
        after = body["cursor"]
        if not body["more"]:
            return rows


def test_every_mutating_route_leaves_one_row_naming_its_key(server: Server, tmp_path: Path) -> None:
    org = "audit-" + secrets.token_hex(4)
    key = server.key(org)
    api = server.client(key)
    routes = [
        (method.upper(), path)
        for path, operations in server.client().get("/openapi.json").json()["paths"].items()
        for method in operations
        if method in MUTATING
    ]
    assert len(routes) > 20
    sent: dict[str, tuple[str, str, int]] = {}
    for n, (method, template) in enumerate(routes):
        path = re.sub(r"\{[^}]+\}", f"nothing-{n}", template)
        request_id = f"audit-{n}-{secrets.token_hex(4)}"
        r = api.request(method, path, json={}, headers={"X-Request-Id": request_id})
        assert r.status_code < 500, (method, path, r.text)
        sent[request_id] = (method, template, r.status_code)
    account = new_account(api)
    granted = grant(api, account, 5000)
    voided = api.post(f"/credits/{granted['id']}/void", headers={"X-Request-Id": "the-void"})
    assert voided.status_code == 200

    prefix = f"key:{key[:8]}"
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        rows = _audit_rows(api)
        mine = [r for r in rows if r.get("requestId") in sent]
        if len(mine) >= len(sent) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    by_request: dict[str, list[dict[str, Any]]] = {}
    for row in mine:
        by_request.setdefault(row["requestId"], []).append(row)
    for request_id, (method, template, status) in sent.items():
        assert len(by_request.get(request_id, [])) == 1, (method, template)
        [row] = by_request[request_id]
        assert (row["method"], row["route"], row["actor"]) == (method, template, prefix)
        assert row["outcome"] == ("REFUSED" if status >= 400 else "APPLIED")
        assert row.get("status") in (status, None)
        assert row["address"]
    # "Who granted this?": the journal's GRANT row names the request; its audit row the key.
    [journal_row] = [
        r
        for r in api.get("/ledger/entries", params={"kind": "GRANT"}).json()["data"]
        if r["creditId"] == granted["id"]
    ]
    [who] = [r for r in rows if r.get("requestId") == journal_row["requestId"]]
    assert (who["route"], who["outcome"], who["actor"]) == ("/credits", "APPLIED", prefix)
    assert who.get("status") is None  # written by the grant's own transaction, before the answer
    [void] = _audit_rows(api, resource=granted["id"])
    assert (void["route"], void["requestId"]) == ("/credits/{credit_id}/void", "the-void")
    assert len(_audit_rows(api, actor=prefix)) == len(rows)
    assert _audit_rows(api, actor="key:someone") == []

    # `grantledger export --audit`: the same rows, loaded as they are.
    out = tmp_path / "audit.parquet"
    done = run_cli(
        server.database_url,
        "export",
        "--org",
        org,
        "--audit",
        "--format",
        "parquet",
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    exported = duckdb.sql(f"SELECT cursor, actor, status FROM read_parquet('{out}')").fetchall()
    assert [c for c, _, _ in exported] == [r["cursor"] for r in _audit_rows(api)]

    # Another organization sees none of it.
    assert _audit_rows(server.client()) == []


def test_bad_audit_queries_are_400s(api: httpx.Client) -> None:
    for params, name in (
        ({"after": "x"}, "after"),
        ({"from": "soon"}, "from"),
        ({"pageSize": "0"}, "pageSize"),
        ({"who": "me"}, "who"),
    ):
        assert name in error_message(api.get("/audit_log", params=params), 400)


def test_each_gate_request_has_one_row_written_with_its_batch(server: Server) -> None:
    """`/entitled`, group-committed: each request's row is written by the batch that answers
    it, with that answer's status (the fast path for valid events, the route for the rest)."""
    org = "audit-gate-" + secrets.token_hex(4)
    key = server.key(org)
    api = server.client(key)
    account = new_account(api)
    schema = new_schema(api)
    feature = new_feature(api, [(schema, "tokens")], valueType="NUMERIC")
    grant_entry(api, account, feature, 5)
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    sent = {
        "gate-ok": (usage_event(schema, account, now, "g-1", tokens="4"), 200),
        "gate-short": (usage_event(schema, account, now, "g-2", tokens="4"), 403),
        "gate-again": (usage_event(schema, account, now, "g-1", tokens="4"), 409),
        "gate-bad": ({"event": {"schemaName": schema}}, 400),
    }
    for request_id, (body, status) in sent.items():
        r = api.post("/entitled", json=body, headers={"X-Request-Id": request_id})
        assert r.status_code == status, (request_id, r.text)
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        rows = [r for r in _audit_rows(api) if r.get("requestId") in sent]
        if len(rows) >= len(sent) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert sorted(r["requestId"] for r in rows) == sorted(sent)  # one each
    for row in rows:
        status = sent[row["requestId"]][1]
        assert (row["route"], row["status"], row["actor"]) == (
            "/entitled",
            status,
            f"key:{key[:8]}",
        )
        assert row["outcome"] == ("APPLIED" if status == 200 else "REFUSED")
