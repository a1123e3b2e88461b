"""The client's retries and timeouts over a real socket: a local HTTP endpoint answers from a
script, so headers, bodies and timeouts cross a real connection. The policy itself is tested
without one in tests/unit/test_client_retries.py; here too the retries' waits are recorded,
not slept (fixture `slept`)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from grantledger.client import ApiClient, Configuration, CreditsApi
from grantledger.client.rest import ApiConnectionException, ApiTimeoutException
from tests.servers import free_port

PAGE = {"data": [], "nextToken": None}
CREATED = {"credits": []}


@dataclass
class Seen:
    method: str
    path: str
    body: bytes


@dataclass
class Scripted:
    """Answers each request with the next scripted (status, headers, body, delay)."""

    answers: list[tuple[int, dict[str, str], bytes, float]] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    url: str = ""

    def script(
        self, *answers: tuple[int, dict[str, str], Any] | tuple[int, dict[str, str], Any, float]
    ) -> None:
        for status, headers, body, *delay in answers:
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.answers.append((status, headers, raw, delay[0] if delay else 0.0))


@pytest.fixture
def endpoint() -> Iterator[Scripted]:
    state = Scripted()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            with lock:
                state.seen.append(Seen(self.command, self.path, body))
                status, headers, raw, delay = (
                    state.answers.pop(0) if state.answers else (200, {}, b"{}", 0.0)
                )
            time.sleep(delay)  # the server being slow, for the timeout test
            try:
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (timeout tests)

        do_GET = do_POST = do_PATCH = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield state
    httpd.shutdown()
    httpd.server_close()


def _config(url: str, **options: Any) -> Configuration:
    return Configuration(host=url, access_token="k", **options)


def test_retry_after_read_off_the_wire_then_200(endpoint: Scripted, slept: list[float]) -> None:
    endpoint.script((429, {"Retry-After": "1"}, {"message": "slow down"}), (200, {}, PAGE))
    with ApiClient(_config(endpoint.url)) as client:
        page = CreditsApi(client).list_credits(account_id="a", page_size=5)
    assert page.data == [] and page.next_token is None
    first, second = endpoint.seen
    assert first.path == second.path == "/credits?account_id=a&pageSize=5"
    assert slept == [1.0]


def test_a_write_with_idempotency_key_is_resent_with_the_same_bytes(
    endpoint: Scripted, slept: list[float]
) -> None:
    request = {
        "accountId": "a",
        "purpose": "p",
        "effectiveFrom": "2026-01-01",
        "priority": 1,
        "creditAmount": "0.1",
        "idempotencyKey": "k-1",
    }
    endpoint.script((503, {"Retry-After": "0"}, {"message": "busy"}), (200, {}, CREATED))
    with ApiClient(_config(endpoint.url)) as client:
        assert CreditsApi(client).create_credit({"creditRequests": [request]}).credits == []
    first, second = endpoint.seen
    assert first.method == second.method == "POST" and first.body == second.body
    # Amounts leave as exact decimal numbers, never through float.
    assert b'"creditAmount":0.1,' in first.body and b'"idempotencyKey":"k-1"' in first.body
    assert slept == [0.0]


def test_timeout_raises_api_timeout_exception(endpoint: Scripted) -> None:
    endpoint.script((200, {}, PAGE, 1.0))
    client = ApiClient(_config(endpoint.url, timeout=0.2, retries=0))
    with client, pytest.raises(ApiTimeoutException) as caught:
        CreditsApi(client).list_credits()
    assert caught.value.status == 0


def test_unreachable_server_raises_api_connection_exception(slept: list[float]) -> None:
    config = _config(f"http://127.0.0.1:{free_port()}", retries=1)
    with ApiClient(config) as client, pytest.raises(ApiConnectionException) as caught:
        CreditsApi(client).list_credits()
    assert caught.value.status == 0 and "connection failed" in (caught.value.reason or "")
    assert len(slept) == 1  # a connection that never opened is retried once, then raised
