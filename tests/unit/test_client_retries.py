"""Retries, timeouts and error mapping of `grantledger.client`, against a real local HTTP
endpoint that answers from a script (429/503 with `Retry-After`, slow answers, odd bodies)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from grantledger.client import (
    ApiClient,
    AsyncApiClient,
    Configuration,
    CreditsApi,
    EntitlementsApi,
)
from grantledger.client.rest import (
    ApiConnectionException,
    ApiException,
    ApiTimeoutException,
    BadRequestException,
    ConflictException,
    ForbiddenException,
    NotFoundException,
    ServiceException,
    TooManyRequestsException,
    UnauthorizedException,
    UnprocessableEntityException,
)
from tests.servers import free_port

PAGE = {"data": [], "nextToken": None}
CREATED = {"credits": []}


@dataclass
class Seen:
    method: str
    path: str
    body: bytes
    at: float


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
                state.seen.append(Seen(self.command, self.path, body, time.monotonic()))
                status, headers, raw, delay = (
                    state.answers.pop(0) if state.answers else (200, {}, b"{}", 0.0)
                )
            time.sleep(delay)
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
    # A tiny backoff, so that a wait of about a second can only come from Retry-After.
    return Configuration(host=url, access_token="k", backoff_factor=0.01, **options)


def test_429_with_retry_after_then_200_is_retried_after_the_given_delay(endpoint: Scripted) -> None:
    endpoint.script((429, {"Retry-After": "1"}, {"message": "slow down"}), (200, {}, PAGE))
    with ApiClient(_config(endpoint.url)) as client:
        page = CreditsApi(client).list_credits(account_id="a", page_size=5)
    assert page.data == [] and page.next_token is None
    first, second = endpoint.seen
    assert first.path == second.path == "/credits?account_id=a&pageSize=5"
    assert second.at - first.at >= 0.95


def test_async_503_with_retry_after_then_200(endpoint: Scripted) -> None:
    endpoint.script(
        (503, {"Retry-After": "1"}, {"message": "busy"}),
        (
            200,
            {},
            {"accountId": "a", "featureId": "f", "granted": 1.5, "balance": 1, "usedOverage": 0},
        ),
    )

    async def run() -> Decimal:
        async with AsyncApiClient(_config(endpoint.url)) as client:
            answer = await EntitlementsApi(client).get_feature_credits("a", "f")
            return answer.granted

    assert asyncio.run(run()) == Decimal("1.5")
    first, second = endpoint.seen
    assert second.at - first.at >= 0.95


def _credit_request(key: str | None) -> dict[str, Any]:
    request = {
        "accountId": "a",
        "purpose": "p",
        "effectiveFrom": "2026-01-01",
        "priority": 1,
        "creditAmount": "0.1",
    }
    return {"creditRequests": [request | ({"idempotencyKey": key} if key else {})]}


def test_a_write_without_idempotency_key_is_not_retried(endpoint: Scripted) -> None:
    endpoint.script((429, {"Retry-After": "0"}, {"message": "slow down"}), (200, {}, CREATED))
    client = ApiClient(_config(endpoint.url))
    with client, pytest.raises(TooManyRequestsException) as caught:
        CreditsApi(client).create_credit(_credit_request(None))
    assert len(endpoint.seen) == 1
    error = caught.value
    assert error.status == 429 and error.retry_after == "0"
    assert error.data is not None and error.data.message == "slow down"


def test_a_write_with_idempotency_key_is_retried_with_the_same_body(endpoint: Scripted) -> None:
    endpoint.script((503, {"Retry-After": "0"}, {"message": "busy"}), (200, {}, CREATED))
    with ApiClient(_config(endpoint.url)) as client:
        assert CreditsApi(client).create_credit(_credit_request("k-1")).credits == []
    first, second = endpoint.seen
    assert first.body == second.body
    # Amounts leave as exact decimal numbers, never through float.
    assert b'"creditAmount":0.1,' in first.body and b'"idempotencyKey":"k-1"' in first.body


@pytest.mark.parametrize(("event_id", "attempts"), [("ev-1", 2), (None, 1)])
def test_entitled_event_is_retried_only_with_an_event_id(
    endpoint: Scripted, event_id: str | None, attempts: int
) -> None:
    endpoint.script((429, {"Retry-After": "0"}, {"message": "slow"}), (200, {}, {"success": True}))
    event: dict[str, Any] = {
        "schemaName": "s",
        "accountId": "a",
        "timestamp": "2026-01-01T00:00:00Z",
        "attributes": [{"name": "tokens", "value": "1"}],
    }
    if event_id:
        event["id"] = event_id
    with ApiClient(_config(endpoint.url)) as client:
        api = EntitlementsApi(client)
        if attempts == 1:
            with pytest.raises(TooManyRequestsException):
                api.ingest_entitled_event({"event": event})
        else:
            assert api.ingest_entitled_event({"event": event}).success is True
    assert len(endpoint.seen) == attempts


def test_retries_stop_after_the_configured_count(endpoint: Scripted) -> None:
    endpoint.script(*[(503, {}, {"message": "down"})] * 4)
    client = ApiClient(_config(endpoint.url, retries=2))
    with client, pytest.raises(ServiceException) as caught:
        CreditsApi(client).get_credit_details("c")
    assert len(endpoint.seen) == 3 and caught.value.status == 503


def test_a_retry_after_beyond_the_limit_is_not_waited_for(endpoint: Scripted) -> None:
    endpoint.script((429, {"Retry-After": "3600"}, {"message": "come back later"}))
    started = time.monotonic()
    with ApiClient(_config(endpoint.url)) as client, pytest.raises(TooManyRequestsException):
        CreditsApi(client).get_credit_details("c")
    assert len(endpoint.seen) == 1 and time.monotonic() - started < 1


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, BadRequestException),
        (401, UnauthorizedException),
        (403, ForbiddenException),
        (404, NotFoundException),
        (409, ConflictException),
        (422, UnprocessableEntityException),
        (429, TooManyRequestsException),
        (500, ServiceException),
        (502, ServiceException),
        (418, ApiException),
    ],
)
def test_each_error_status_raises_its_exception(
    endpoint: Scripted, status: int, kind: type[ApiException]
) -> None:
    endpoint.script((status, {}, {"message": f"said {status}"}))
    with ApiClient(_config(endpoint.url, retries=0)) as client, pytest.raises(kind) as caught:
        CreditsApi(client).void_credit("c")
    error = caught.value
    assert type(error) is kind
    assert error.status == status and error.reason
    assert error.data is not None and error.data.message == f"said {status}"
    assert error.body == json.dumps({"message": f"said {status}"})
    assert f"({status})" in str(error)


def test_a_body_that_is_not_an_error_message_leaves_data_empty(endpoint: Scripted) -> None:
    endpoint.script((502, {"Content-Type": "text/html"}, b"<html>bad gateway</html>"))
    client = ApiClient(_config(endpoint.url, retries=0))
    with client, pytest.raises(ServiceException) as caught:
        CreditsApi(client).void_credit("c")
    assert caught.value.data is None and caught.value.body == "<html>bad gateway</html>"


def test_timeout_raises_api_timeout_exception(endpoint: Scripted) -> None:
    endpoint.script((200, {}, PAGE, 1.0))
    client = ApiClient(_config(endpoint.url, timeout=0.2, retries=0))
    with client, pytest.raises(ApiTimeoutException) as caught:
        CreditsApi(client).list_credits()
    assert caught.value.status == 0


def test_unreachable_server_raises_api_connection_exception() -> None:
    config = _config(f"http://127.0.0.1:{free_port()}", retries=1)
    with ApiClient(config) as client, pytest.raises(ApiConnectionException) as caught:
        CreditsApi(client).list_credits()
    assert caught.value.status == 0 and "connection failed" in (caught.value.reason or "")


def test_retry_after_is_read_as_seconds_or_as_an_http_date() -> None:
    from email.utils import parsedate_to_datetime

    from grantledger.client._core import _retry_after_seconds

    when = "Wed, 21 Oct 2015 07:28:00 GMT"
    now = parsedate_to_datetime(when).timestamp()
    assert _retry_after_seconds(when, now - 5) == 5.0
    assert _retry_after_seconds(when, now + 5) == 0.0  # already past: no wait
    assert _retry_after_seconds(" 2 ", now) == 2.0
    assert _retry_after_seconds("soon", now) is None and _retry_after_seconds(None, now) is None
