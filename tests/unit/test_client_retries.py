"""Retries, timeouts and error mapping of `grantledger.client`: the policy, against an
`httpx.MockTransport` that answers from a script (429/503 with `Retry-After`, broken
connections, odd bodies). The waits are recorded, not slept (fixture `slept`), so they are
checked exactly and no test waits in real time. The same over a real socket:
tests/api/test_client_wire.py."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import pytest

from grantledger.client import (
    ApiClient,
    AsyncApiClient,
    Configuration,
    CreditsApi,
    EntitlementsApi,
    EventIngestionApi,
    EventManagementApi,
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

PAGE = {"data": [], "nextToken": None}
CREATED = {"credits": []}
HOST = "http://sdk.test"


@dataclass
class Seen:
    method: str
    path: str
    body: bytes


Answer = tuple[int, dict[str, str], bytes] | httpx.TransportError


@dataclass
class Scripted:
    """Answers each request with the next scripted (status, headers, body), or raises the
    next scripted transport error; 200 `{}` once the script is spent."""

    answers: list[Answer] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)

    def script(self, *answers: tuple[int, dict[str, str], Any] | httpx.TransportError) -> None:
        for answer in answers:
            if isinstance(answer, httpx.TransportError):
                self.answers.append(answer)
                continue
            status, headers, body = answer
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.answers.append((status, headers, raw))

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(Seen(request.method, request.url.raw_path.decode(), request.content))
        answer = self.answers.pop(0) if self.answers else (200, {}, b"{}")
        if isinstance(answer, httpx.TransportError):
            raise answer
        status, headers, raw = answer
        headers = {"Content-Type": "application/json", **headers}
        return httpx.Response(status, headers=headers, content=raw, request=request)


@pytest.fixture
def endpoint() -> Scripted:
    return Scripted()


def _config(**options: Any) -> Configuration:
    return Configuration(host=HOST, access_token="k", **options)


def _client(endpoint: Scripted, **options: Any) -> ApiClient:
    transport = httpx.MockTransport(endpoint.handle)
    return ApiClient(_config(**options), http_client=httpx.Client(transport=transport))


def _async_client(endpoint: Scripted, **options: Any) -> AsyncApiClient:
    transport = httpx.MockTransport(endpoint.handle)
    return AsyncApiClient(_config(**options), http_client=httpx.AsyncClient(transport=transport))


def _within_backoff(delay: float, attempt: int, factor: float = 0.5) -> bool:  # float-ok: s
    # Retry n waits a jittered [ceiling/2, ceiling], ceiling = backoff_factor * 2**n.
    ceiling = factor * 2.0**attempt
    return ceiling / 2 <= delay <= ceiling


def test_429_with_retry_after_then_200_is_retried_after_the_given_delay(
    endpoint: Scripted, slept: list[float]
) -> None:
    endpoint.script((429, {"Retry-After": "1"}, {"message": "slow down"}), (200, {}, PAGE))
    with _client(endpoint) as client:
        page = CreditsApi(client).list_credits(account_id="a", page_size=5)
    assert page.data == [] and page.next_token is None
    first, second = endpoint.seen
    assert first.path == second.path == "/credits?account_id=a&pageSize=5"
    assert slept == [1.0]


def test_async_503_with_retry_after_then_200(endpoint: Scripted, slept: list[float]) -> None:
    endpoint.script(
        (503, {"Retry-After": "1"}, {"message": "busy"}),
        (
            200,
            {},
            {"accountId": "a", "featureId": "f", "granted": 1.5, "balance": 1, "usedOverage": 0},
        ),
    )

    async def run() -> Decimal:
        async with _async_client(endpoint) as client:
            answer = await EntitlementsApi(client).get_feature_credits("a", "f")
            return answer.granted

    assert asyncio.run(run()) == Decimal("1.5")
    assert len(endpoint.seen) == 2
    assert slept == [1.0]


def test_a_retry_after_given_as_an_http_date_is_waited_until_then(
    endpoint: Scripted, slept: list[float]
) -> None:
    # A date long past: the answer may be retried at once.
    endpoint.script(
        (503, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, {"message": "busy"}),
        (200, {}, PAGE),
    )
    with _client(endpoint) as client:
        CreditsApi(client).list_credits()
    assert len(endpoint.seen) == 2 and slept == [0.0]


def _credit_request(key: str | None) -> dict[str, Any]:
    request = {
        "accountId": "a",
        "purpose": "p",
        "effectiveFrom": "2026-01-01",
        "priority": 1,
        "creditAmount": "0.1",
    }
    return {"creditRequests": [request | ({"idempotencyKey": key} if key else {})]}


def test_a_write_without_idempotency_key_is_not_retried(
    endpoint: Scripted, slept: list[float]
) -> None:
    endpoint.script((429, {"Retry-After": "0"}, {"message": "slow down"}), (200, {}, CREATED))
    client = _client(endpoint)
    with client, pytest.raises(TooManyRequestsException) as caught:
        CreditsApi(client).create_credit(_credit_request(None))
    assert len(endpoint.seen) == 1 and slept == []
    error = caught.value
    assert error.status == 429 and error.retry_after == "0"
    assert error.data is not None and error.data.message == "slow down"


def test_a_write_with_idempotency_key_is_retried_with_the_same_body(
    endpoint: Scripted, slept: list[float]
) -> None:
    endpoint.script((503, {"Retry-After": "0"}, {"message": "busy"}), (200, {}, CREATED))
    with _client(endpoint) as client:
        assert CreditsApi(client).create_credit(_credit_request("k-1")).credits == []
    first, second = endpoint.seen
    assert first.body == second.body
    # Amounts leave as exact decimal numbers, never through float.
    assert b'"creditAmount":0.1,' in first.body and b'"idempotencyKey":"k-1"' in first.body
    assert slept == [0.0]


@pytest.mark.parametrize(("event_id", "attempts"), [("ev-1", 2), (None, 1)])
def test_entitled_event_is_retried_only_with_an_event_id(
    endpoint: Scripted, slept: list[float], event_id: str | None, attempts: int
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
    with _client(endpoint) as client:
        api = EntitlementsApi(client)
        if attempts == 1:
            with pytest.raises(TooManyRequestsException):
                api.ingest_entitled_event({"event": event})
        else:
            assert api.ingest_entitled_event({"event": event}).success is True
    assert len(endpoint.seen) == attempts
    assert len(slept) == attempts - 1


_EVENT: dict[str, Any] = {
    "schemaName": "s",
    "accountId": "a",
    "timestamp": "2026-01-01T00:00:00Z",
    "attributes": [{"name": "tokens", "value": "1"}],
}


@pytest.mark.parametrize(
    ("send", "attempts"),
    [
        (lambda c: EventIngestionApi(c).ingest({"event": {**_EVENT, "id": "e1"}}), 2),
        (lambda c: EventIngestionApi(c).ingest({"event": _EVENT}), 1),
        (lambda c: EventIngestionApi(c).ingest_batch({"events": [{**_EVENT, "id": "e1"}]}), 2),
        (
            lambda c: EventIngestionApi(c).ingest_batch(
                {"events": [{**_EVENT, "id": "e"}, _EVENT]}
            ),
            1,
        ),
        (lambda c: EventManagementApi(c).event_correction("UNDO", None, {"event": _EVENT}), 2),
        (lambda c: EventManagementApi(c).event_correction("REDO", None, {"event": _EVENT}), 1),
        (
            lambda c: EventManagementApi(c).event_correction("REDO_EVENT", None, {"event": _EVENT}),
            1,
        ),
        (lambda c: EventManagementApi(c).get_events(account_id="a"), 2),
    ],
)
def test_usage_is_retried_only_where_a_repeat_cannot_do_more(
    endpoint: Scripted, slept: list[float], send: Any, attempts: int
) -> None:
    """Ingestion with ids (a repeat is answered as recorded) and UNDO (a repeat cannot revert
    twice) are retried; an id-less event and a REDO (a repeat judges again) are not."""
    endpoint.script((503, {"Retry-After": "0"}, {"message": "busy"}), (200, {}, {"data": []}))
    with _client(endpoint) as client:
        if attempts == 1:
            with pytest.raises(ServiceException):
                send(client)
        else:
            send(client)
    assert len(endpoint.seen) == attempts


def test_an_empty_events_list_is_an_empty_page(endpoint: Scripted) -> None:
    """The server answers 204 without a body when no event matches: no page, no error."""
    endpoint.script((204, {}, b""))
    with _client(endpoint) as client:
        page = EventManagementApi(client).get_events(status="REVERTED")
        assert page.events == [] and page.next_token is None
        endpoint.script((204, {}, b""))
        assert list(EventManagementApi(client).iter_events(account_id="a")) == []
    assert endpoint.seen[0].path == "/events?status=REVERTED"
    assert endpoint.seen[1].path == "/events?account_id=a"


def test_retries_stop_after_the_configured_count(endpoint: Scripted, slept: list[float]) -> None:
    endpoint.script(*[(503, {}, {"message": "down"})] * 4)
    client = _client(endpoint, retries=2)
    with client, pytest.raises(ServiceException) as caught:
        CreditsApi(client).get_credit_details("c")
    assert len(endpoint.seen) == 3 and caught.value.status == 503
    # Without Retry-After, each retry waits the jittered exponential backoff.
    assert len(slept) == 2
    assert all(_within_backoff(delay, attempt) for attempt, delay in enumerate(slept)), slept


def test_backoff_is_capped_at_max_backoff(endpoint: Scripted, slept: list[float]) -> None:
    endpoint.script(*[(429, {}, {"message": "slow"})] * 6)
    client = _client(endpoint, retries=5, backoff_factor=1, max_backoff=3)
    with client, pytest.raises(TooManyRequestsException):
        CreditsApi(client).get_credit_details("c")
    assert len(endpoint.seen) == 6 and len(slept) == 5
    assert all(delay <= 3 for delay in slept) and all(d >= 1.5 for d in slept[2:]), slept


def test_a_retry_after_beyond_the_limit_is_not_waited_for(
    endpoint: Scripted, slept: list[float]
) -> None:
    endpoint.script((429, {"Retry-After": "3600"}, {"message": "come back later"}))
    with _client(endpoint) as client, pytest.raises(TooManyRequestsException):
        CreditsApi(client).get_credit_details("c")
    assert len(endpoint.seen) == 1 and slept == []


def test_a_connection_that_never_opened_is_retried_even_for_a_write(
    endpoint: Scripted, slept: list[float]
) -> None:
    # Nothing was sent, so even a write without idempotency key cannot be applied twice.
    endpoint.script(httpx.ConnectError("refused"), (200, {}, CREATED))
    with _client(endpoint) as client:
        assert CreditsApi(client).create_credit(_credit_request(None)).credits == []
    assert len(endpoint.seen) == 2
    assert len(slept) == 1 and _within_backoff(slept[0], 0)


def test_a_connection_broken_mid_request_is_retried_only_when_safe(
    endpoint: Scripted, slept: list[float]
) -> None:
    endpoint.script(httpx.ReadError("reset"), httpx.ReadError("reset"), (200, {}, PAGE))
    with _client(endpoint) as client:
        with pytest.raises(ApiConnectionException) as caught:
            CreditsApi(client).create_credit(_credit_request(None))  # may have been applied
        assert len(endpoint.seen) == 1 and slept == []
        assert caught.value.status == 0 and "connection failed" in (caught.value.reason or "")
        assert CreditsApi(client).list_credits().data == []  # a read: retried
    assert len(endpoint.seen) == 3 and len(slept) == 1


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
    with _client(endpoint, retries=0) as client, pytest.raises(kind) as caught:
        CreditsApi(client).void_credit("c")
    error = caught.value
    assert type(error) is kind
    assert error.status == status and error.reason
    assert error.data is not None and error.data.message == f"said {status}"
    assert error.body == json.dumps({"message": f"said {status}"})
    assert f"({status})" in str(error)


def test_a_body_that_is_not_an_error_message_leaves_data_empty(endpoint: Scripted) -> None:
    endpoint.script((502, {"Content-Type": "text/html"}, b"<html>bad gateway</html>"))
    client = _client(endpoint, retries=0)
    with client, pytest.raises(ServiceException) as caught:
        CreditsApi(client).void_credit("c")
    assert caught.value.data is None and caught.value.body == "<html>bad gateway</html>"


def test_timeout_raises_api_timeout_exception(endpoint: Scripted) -> None:
    endpoint.script(httpx.ReadTimeout("no answer"))
    client = _client(endpoint, retries=0)
    with client, pytest.raises(ApiTimeoutException) as caught:
        CreditsApi(client).list_credits()
    assert caught.value.status == 0 and "timed out" in (caught.value.reason or "")


def test_retry_after_is_read_as_seconds_or_as_an_http_date() -> None:
    from email.utils import parsedate_to_datetime

    from grantledger.client._core import _retry_after_seconds

    when = "Wed, 21 Oct 2015 07:28:00 GMT"
    now = parsedate_to_datetime(when).timestamp()
    assert _retry_after_seconds(when, now - 5) == 5.0
    assert _retry_after_seconds(when, now + 5) == 0.0  # already past: no wait
    assert _retry_after_seconds(" 2 ", now) == 2.0
    assert _retry_after_seconds("soon", now) is None and _retry_after_seconds(None, now) is None
