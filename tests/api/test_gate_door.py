"""`api/gate_door.py` answers valid `POST /entitled` events before routing: every answer must be
the route's own, word for word. The same requests go to two apps on two fresh databases, one
built without the door, and every status, body and content type must match."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from grantledger.api.gate_door import GateDoor
from grantledger.api.jsonio import MAX_BODY_BYTES
from grantledger.clock import SystemClock
from grantledger.config import Settings
from grantledger.server.app import create_app
from grantledger.service.context import Context
from grantledger.service.operations import tenants
from grantledger.store.database import Database
from grantledger.store.migrate import upgrade
from tests.helpers import grant_entry, new_account, new_feature, new_schema, usage_event


class _Spy:
    """Outermost middleware: which route answered each request (the door leaves its own)."""

    def __init__(self, app: ASGIApp, seen: list[str]) -> None:
        self.app = app
        self.seen = seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
        if scope["type"] == "http" and scope["path"] == "/entitled":
            self.seen.append(type(scope.get("route")).__name__)


async def _key(url: str) -> str:
    ctx = Context(Database(url), SystemClock())
    try:
        return await tenants.create_key(ctx, "door")
    finally:
        await ctx.db.dispose()


@dataclasses.dataclass
class Built:
    client: TestClient
    seen: list[str]


@pytest.fixture
def build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("GRANTLEDGER_WEBHOOK_WORKER", "0")
    opened: list[TestClient] = []

    def make(name: str, door: bool) -> Built:
        url = f"sqlite:///{tmp_path / name}.db"
        upgrade(url)
        key = asyncio.run(_key(url))
        settings = dataclasses.replace(
            Settings.from_env(), database_url=url, sweep_interval_seconds=0
        )
        app: FastAPI = create_app(settings)
        if not door:
            app.user_middleware = [m for m in app.user_middleware if m.cls is not GateDoor]
        seen: list[str] = []
        app.add_middleware(_Spy, seen=seen)
        client = TestClient(app, headers={"Authorization": f"Bearer {key}"})
        client.__enter__()
        opened.append(client)
        return Built(client, seen)

    yield make
    for client in opened:
        client.__exit__(None, None, None)


NOW = "2026-01-10T12:00:00Z"
JSON = {"content-type": "application/json"}


def _exchange(api: TestClient) -> list[tuple[int, str, str]]:
    """One account with 2 units, then every kind of request the gate answers."""
    schema = new_schema(api, ("tokens",))
    new_feature(api, [(schema, "tokens")], name="Tokens", id="tokens")
    account = new_account(api, account_id="acc-door")
    grant_entry(api, account, "tokens", 2, effectiveFrom="2026-01-01T00:00:00Z")

    def event(event_id: str | None, **changes: Any) -> dict[str, Any]:
        body = usage_event(schema, account, "2026-01-10T11:00:00Z", event_id, tokens="1")
        body["event"].update(changes)
        return body

    raw = json.dumps(event("evt-raw")).encode()
    requests: list[dict[str, Any]] = [
        {"json": event("evt-1")},
        {"json": event("evt-1")},  # duplicate
        {"json": event("evt-2", attributes=[{"name": "tokens", "value": "5"}])},  # refused
        {"json": event(None)},  # id generated
        {"json": event("evt-3", schemaName="no_such_schema")},
        {"json": event("evt-4", accountId="acc-nobody")},
        {"json": event("evt-5", attributes=[{"name": "tokens", "value": "ten"}])},
        {"json": event("evt-6", timestamp="not a time")},
        {"json": event("evt-7", colour="red")},
        {"json": {}},
        {"json": [event("evt-8")]},
        {"content": b"{not json", "headers": {"content-type": "application/json"}},
        {"content": raw, "headers": {"content-type": "text/plain"}},
        {"content": raw, "headers": {"content-type": "application/vnd.door+json"}},
        {"content": raw},  # no content type: 415, like every route (api/content_type.py)
        {"content": b" " * (MAX_BODY_BYTES + 1) + raw, "headers": JSON},
        {"content": raw.replace(b'"evt-raw"', b'"evt-raw", "id": "twice"'), "headers": JSON},
        {"json": event("evt-1")},  # still a duplicate, now of an accepted event
        {"json": event("evt-9"), "params": {"dryRun": "true"}},  # the route's 400: no query
    ]
    answers = []
    for request in requests:
        r = api.post("/entitled", **request)
        answers.append((r.status_code, r.text, r.headers.get("content-type", "")))
    return answers


def test_the_door_answers_exactly_as_the_route(build: Any) -> None:
    door, route = build("door", True), build("route", False)
    through_door, through_route = _exchange(door.client), _exchange(route.client)
    assert through_door == through_route
    statuses = [status for status, _, _ in through_door]
    assert statuses.count(200) == 2 and 403 in statuses and 409 in statuses and 413 in statuses
    assert statuses[12] == statuses[14] == 415
    # The door itself answered every well-formed event (accepted, refused, duplicate, or 400
    # from the service: unknown schema or account), and handed the other requests to the route.
    by_door = [i for i, name in enumerate(door.seen) if name == "_Template"]
    assert by_door == [0, 1, 2, 3, 4, 5, 13, 17], door.seen
    assert "_Template" not in route.seen
