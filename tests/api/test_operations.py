"""Operator endpoints and the behaviour every response shares: health, metrics, OpenAPI,
docs, request ids, 404/405 as JSON, and internal errors that never leak a stack trace."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import grant, new_account
from tests.servers import Server

REQUEST_ID = re.compile(r"[0-9a-f]{32}")
METHODS = {"get", "put", "post", "patch", "delete"}


def _json_error(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].split(";")[0] == "application/json"
    body = r.json()
    assert list(body) == ["message"], body
    message: str = body["message"]
    assert message and "Traceback" not in message
    return message


def _counter(text: str, method: str, route: str, status: str) -> float:
    labels = f'method="{method}",route="{route}",status="{status}"'
    for line in text.splitlines():
        if line.startswith("grantledger_http_requests_total{" + labels + "} "):
            return float(line.rpartition(" ")[2])
    return 0.0


def test_health_and_readiness_need_no_key(server: Server) -> None:
    with httpx.Client(base_url=server.base_url, timeout=30) as anonymous:
        for path, answer in (("/healthz", {"status": "ok"}), ("/readyz", {"status": "ready"})):
            r = anonymous.get(path)
            assert r.status_code == 200, r.text
            assert r.headers["content-type"].split(";")[0] == "application/json"
            assert r.json() == answer


def test_metrics_count_requests_by_route_template(server: Server, api: httpx.Client) -> None:
    def scrape() -> str:
        r = httpx.get(server.base_url + "/metrics", timeout=30)
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain")
        return r.text

    before = scrape()
    for _ in range(3):
        httpx.get(server.base_url + "/healthz", timeout=30).raise_for_status()
    api.get("/credits/cred.00000000000.nope1")
    api.get("/credits/cred.00000000000.nope2")
    after = scrape()
    assert "# TYPE grantledger_http_requests_total counter" in after
    assert "grantledger_http_request_seconds_bucket" in after
    assert (
        _counter(after, "GET", "/healthz", "200") - _counter(before, "GET", "/healthz", "200") == 3
    )
    # Labelled by route template, not by raw path: ids do not explode the series.
    route = "/credits/{credit_id}"
    assert _counter(after, "GET", route, "404") - _counter(before, "GET", route, "404") == 2
    assert "nope1" not in after
    # The scrape itself was counted once between the two readings.
    assert (
        _counter(after, "GET", "/metrics", "200") - _counter(before, "GET", "/metrics", "200") == 1
    )


def test_refusals_at_the_door_are_counted_under_their_route(server: Server) -> None:
    """A 401 (or 429) answered before routing still names the endpoint it was sent to."""

    def scrape() -> str:
        return httpx.get(server.base_url + "/metrics", timeout=30).text

    before = scrape()
    wrong = {"Authorization": "Bearer gl_not-a-key"}
    for _ in range(2):
        assert httpx.get(server.base_url + "/credits", headers=wrong).status_code == 401
    assert httpx.post(server.base_url + "/credits/cred.x/void").status_code == 401
    after = scrape()
    listed = "/credits"
    assert _counter(after, "GET", listed, "401") - _counter(before, "GET", listed, "401") == 2
    route = "/credits/{credit_id}/void"
    assert _counter(after, "POST", route, "401") - _counter(before, "POST", route, "401") == 1


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def test_openapi_document_is_complete_and_consistent(server: Server) -> None:
    r = httpx.get(server.base_url + "/openapi.json", timeout=30)
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["title"] == "grantledger" and doc["info"]["version"]
    paths = doc["paths"]
    expected = {
        "/credits": {"get", "post"},
        "/credits/{credit_id}": {"get"},
        "/credits/{credit_id}/void": {"post"},
        "/accounts/{account_id}/credit_balance": {"get"},
        "/accounts/{account_id}/credit_holds": {"get", "post"},
        "/accounts/{account_id}/credit_holds/{invoice_id}": {"get"},
        "/accounts/{account_id}/credit_holds/{invoice_id}/capture": {"post"},
        "/accounts/{account_id}/credit_holds/{invoice_id}/release": {"post"},
        "/accounts/{account_id}/credit_debits": {"post"},
        "/customers": {"get", "post"},
        "/accounts": {"get", "post"},
        "/entitled": {"post"},
        "/healthz": {"get"},
    }
    for path, methods in expected.items():
        assert path in paths, path
        assert methods <= set(paths[path]), (path, set(paths[path]))
    # The wire names the official client sends.
    listed = {p["name"] for p in paths["/credits"]["get"]["parameters"]}
    assert {"nextToken", "status", "account_id", "id", "pageSize"} <= listed
    balance = {
        p["name"] for p in paths["/accounts/{account_id}/credit_balance"]["get"]["parameters"]
    }
    assert "asOf" in balance

    operation_ids = []
    for path, item in paths.items():
        assert path.startswith("/") and not path.startswith("/v1")
        for method, operation in item.items():
            if method not in METHODS:
                continue
            assert operation["responses"], (method, path)
            operation_ids.append(operation["operationId"])
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"\{(\w+)\}", path)), (method, path)
    assert len(operation_ids) == len(set(operation_ids))
    schemas = doc["components"]["schemas"]
    for ref in _refs(doc):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rpartition("/")[2] in schemas, ref


def test_docs_page_is_html(server: Server) -> None:
    r = httpx.get(server.base_url + "/docs", timeout=30)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "swagger-ui" in r.text.lower() and "/openapi.json" in r.text


def test_every_response_carries_a_request_id(server: Server, api: httpx.Client) -> None:
    anonymous = httpx.Client(base_url=server.base_url, timeout=30)
    try:
        responses = [
            api.get("/credits"),
            api.get("/credits/cred.00000000000.00000"),
            anonymous.get("/credits"),
            anonymous.get("/healthz"),
            api.post("/credits", content=b"{", headers={"content-type": "application/json"}),
        ]
        assert [r.status_code for r in responses] == [200, 404, 401, 200, 400]
        ids = [r.headers["x-request-id"] for r in responses]
        assert all(REQUEST_ID.fullmatch(i) for i in ids), ids
        assert len(set(ids)) == len(ids)
        # A caller's own id (from a load balancer, say) is kept, within reason.
        echoed = api.get("/credits", headers={"x-request-id": "lb-7f3a"})
        assert echoed.headers["x-request-id"] == "lb-7f3a"
        long = api.get("/credits", headers={"x-request-id": "x" * 200})
        assert long.headers["x-request-id"] == "x" * 64
    finally:
        anonymous.close()


def test_unknown_path_and_wrong_method_answer_json(server: Server, api: httpx.Client) -> None:
    anonymous = httpx.Client(base_url=server.base_url, timeout=30)
    try:
        assert "endpoint" in _json_error(api.get("/v1/credits"), 404)
        _json_error(api.post("/no/such/thing", json={}), 404)
        # Without a key, a path with no endpoint is judged like any other: 401.
        assert "Authorization" in _json_error(anonymous.get("/v1/credits"), 401)
        account = new_account(api)
        credit = grant(api, account, 1)["id"]
        for method, path in (
            ("DELETE", "/credits"),
            ("PUT", f"/credits/{credit}"),
            ("GET", f"/credits/{credit}/void"),
            ("DELETE", f"/accounts/{account}/credit_balance"),
            ("PATCH", f"/accounts/{account}/credit_holds/inv-1/capture"),
        ):
            r = api.request(method, path)
            assert "method" in _json_error(r, 405).lower(), (method, path)
            assert r.headers.get("allow"), (method, path)
    finally:
        anonymous.close()
    assert api.get(f"/credits/{credit}").json()["status"] == "ACTIVE"


def test_nul_in_the_url_is_a_400_on_every_backend(api: httpx.Client) -> None:
    # PostgreSQL text cannot hold NUL; it must not reach the database as an internal error.
    account = new_account(api)
    for path, params in (
        ("/accounts/a%00b/credit_balance", None),
        ("/credits/cred.%00", None),
        ("/credits", {"account_id": "a\x00b"}),
    ):
        assert "NUL" in _json_error(api.get(path, params=params), 400)
    body = {"invoiceId": "inv\x00", "lines": [{"entityId": "x", "amount": 1}]}
    assert "NUL" in _json_error(api.post(f"/accounts/{account}/credit_holds", json=body), 400)
    r = api.post(
        f"/accounts/{account}/credit_debits",
        content=b'{"invoiceId": "inv-\\ud800", "lines": [{"entityId": "x", "amount": 1}]}',
        headers={"content-type": "application/json"},
    )
    assert "surrogate" in _json_error(r, 400)
    assert api.get(f"/accounts/{account}/credit_holds").json() == {"data": []}


@pytest.fixture
def broken(tmp_path: Path) -> Any:
    """A server whose database an operator damaged: the only honest way to cause a 500."""
    db = tmp_path / "broken.db"
    server = Server(database_url=f"sqlite:///{db}", clock_file=tmp_path / "clock")
    server.start(tmp_path)
    try:
        yield server, db
    finally:
        server.stop()


def test_internal_errors_are_json_without_a_stack_trace(broken: tuple[Server, Path]) -> None:
    server, db = broken
    with server.client() as api:
        account = new_account(api)
        credit = grant(api, account, 10)["id"]
        with sqlite3.connect(db) as conn:
            conn.execute("DROP TABLE credit_transactions")
            conn.execute("ALTER TABLE alembic_version RENAME TO alembic_version_gone")

        r = api.get(f"/credits/{credit}", headers={"x-request-id": "req-500"})
        message = _json_error(r, 500)
        assert "req-500" in message
        assert r.headers["x-request-id"] == "req-500"
        for leak in ("Traceback", "sqlite", "OperationalError", "credit_transactions", "File "):
            assert leak not in r.text, leak
        generated = api.get(f"/credits/{credit}")
        quoted = _json_error(generated, 500)
        assert generated.headers["x-request-id"] in quoted

        # Readiness reports the damage instead of pretending; liveness asks no database (a
        # restart would not repair it).
        _json_error(httpx.get(server.base_url + "/readyz", timeout=30), 503)
        assert httpx.get(server.base_url + "/healthz", timeout=30).json() == {"status": "ok"}
    assert server.log_path is not None
    log = server.log_path.read_text()
    assert "req-500" in log and "Traceback" in log  # the details stay with the operator


def test_logs_are_json_lines_with_the_request_id(tmp_path: Path) -> None:
    server = Server(
        database_url=f"sqlite:///{tmp_path / 'logs.db'}",
        clock_file=tmp_path / "clock",
        log_level="info",
    )
    server.start(tmp_path)
    try:
        with server.client() as api:
            assert api.get("/customers", headers={"x-request-id": "req-log"}).status_code == 200
    finally:
        server.stop()
    assert server.log_path is not None
    lines = [
        json.loads(line)
        for line in server.log_path.read_text().splitlines()
        if line.startswith("{")
    ]
    access = [line for line in lines if line.get("request_id") == "req-log"]
    assert len(access) == 1, lines
    assert access[0]["logger"] == "grantledger.access"
    assert access[0]["level"] == "info"
    assert (access[0]["method"], access[0]["path"], access[0]["status"]) == (
        "GET",
        "/customers",
        200,
    )
    assert access[0]["org"] and access[0]["ms"] >= 0


def test_oversized_bodies_are_refused_before_they_are_read(api: httpx.Client) -> None:
    account = new_account(api)
    padding = "x" * (2 << 20)
    body = json.dumps(
        {"creditRequests": [{"accountId": account, "creditAmount": 1, "purpose": padding}]}
    ).encode()
    declared = api.post("/credits", content=body, headers={"content-type": "application/json"})
    assert "larger than" in _json_error(declared, 413)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit must hold while streaming
        for start in range(0, len(body), 64 << 10):
            yield body[start : start + (64 << 10)]

    streamed = api.post("/credits", content=chunks(), headers={"content-type": "application/json"})
    assert "larger than" in _json_error(streamed, 413)
    assert api.get("/credits", params={"account_id": account}).json()["data"] == []
