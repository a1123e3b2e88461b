"""One Content-Type rule for every request body, the `/entitled` fast path included: a body not
declared as JSON is refused 415 with the same sentence, before it is read, and changes nothing."""

from __future__ import annotations

import json
import secrets

import httpx
import pytest

from tests.helpers import error_message, new_account, new_schema, usage_event

NOT_JSON = [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]


def _send(
    api: httpx.Client, method: str, path: str, body: object, kind: str | None
) -> httpx.Response:
    headers = {"content-type": kind} if kind else {}
    request = api.build_request(method, path, content=json.dumps(body).encode(), headers=headers)
    if kind is None:
        # httpx adds no content type for raw content; make sure none is sent.
        request.headers.pop("content-type", None)
    return api.send(request)


@pytest.mark.parametrize("kind", NOT_JSON)
def test_every_route_refuses_a_body_not_declared_as_json(
    api: httpx.Client, kind: str | None
) -> None:
    account = new_account(api)
    schema = new_schema(api)
    customer = "cus-" + secrets.token_hex(4)
    event = usage_event(schema, account, "2026-01-10T11:00:00Z", "evt-" + secrets.token_hex(4))
    cases = [
        (
            "POST",
            "/customers",
            {
                "id": customer,
                "name": "Customer",
                "primaryEmail": "c@example.com",
                "address": {"country": "US"},
            },
        ),
        ("POST", "/credits", {"creditRequests": []}),
        ("PATCH", f"/accounts/{account}", {"name": "renamed"}),
        ("POST", "/entitled", event),
        ("POST", f"/accounts/{account}/credit_debits", {"invoiceId": "i", "lines": []}),
        ("POST", "/webhook_endpoints", {"url": "http://127.0.0.1:9/hook"}),
    ]
    messages = set()
    for method, path, body in cases:
        answer = _send(api, method, path, body, kind)
        message = error_message(answer, 415)
        assert "Content-Type: application/json" in message, (path, message)
        assert (kind or "declares none") in message
        messages.add(message)
    assert len(messages) == 1  # one rule, one sentence, whatever the route
    # Nothing was done: no customer, no event (the same id is still new), no rename.
    assert api.get(f"/customers/{customer}").status_code == 404
    assert api.get(f"/accounts/{account}").json()["name"] != "renamed"
    assert _send(api, "POST", "/entitled", event, "application/json").status_code != 409


@pytest.mark.parametrize("kind", ["application/json; charset=utf-8", "application/vnd.api+json"])
def test_json_types_are_served(api: httpx.Client, kind: str) -> None:
    customer = "cus-" + secrets.token_hex(4)
    body = {
        "id": customer,
        "name": "Customer",
        "primaryEmail": "c@example.com",
        "address": {"country": "US"},
    }
    answer = _send(api, "POST", "/customers", body, kind)
    assert answer.status_code == 201, answer.text


def test_a_request_without_a_body_needs_no_content_type(api: httpx.Client) -> None:
    answer = api.post("/credits/cred.00000000000.00000/void")
    assert "not found" in error_message(answer, 404)
