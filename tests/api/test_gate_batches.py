"""The group-committed gate decides a batch exactly as it decides the same events one by one.

The same random event stream goes to two organizations set up alike: to one as a single batch
(`ingest_batch` with every event), to the other one event per transaction. Outcomes (status
and message) and the ledgers (every entry's `used`) must be identical. The stream mixes
accounts (one of them drawing from the cycle of a BILLING plan), features, quantities that run
entries dry, ids repeated within the stream and ids already received, events of an unknown
account and events lacking an attribute.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grantledger.clock import SystemClock
from grantledger.domain.gate import named_attributes
from grantledger.service.context import Context
from grantledger.service.entitlements.event_input import EventInput
from grantledger.service.entitlements.gate_batch import Outcome, Received, ingest_batch
from grantledger.store.operations import tenants as tenant_store
from tests.helpers import feature_entries, grant_entry, ok_json
from tests.servers import Server, open_database

ACCOUNTS = ("acc-a", "acc-b")
PLAN_ACCOUNT = "acc-plan"  # its units come from its plan's current cycle
IDS = tuple(f"ev-{n}" for n in range(6))  # few, so that ids repeat


def _set_up(api: httpx.Client, schema: str) -> None:
    """Two features on one schema, two accounts, entries small enough to run dry."""
    r = api.post(
        "/event_schema",
        json={
            "name": schema,
            "attributes": [{"name": "tokens"}, {"name": "images"}],
            "dimensions": [],
        },
    )
    assert r.status_code == 201, r.text
    for feature, attribute in (("f-tokens", "tokens"), ("f-images", "images")):
        ok_json(
            api.post(
                "/features",
                json={
                    "id": feature,
                    "name": feature,
                    "valueType": "NUMERIC",
                    "schemaAssociations": [{"schemaName": schema, "attributeName": attribute}],
                },
            )
        )
    start = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    for account in (*ACCOUNTS, PLAN_ACCOUNT):
        r = api.post(
            "/customers",
            json={
                "id": "cus-" + account,
                "name": account,
                "primaryEmail": "a@example.com",
                "address": {"country": "US"},
                "account": {"id": account, "name": account},
            },
        )
        assert r.status_code == 201, r.text
        if account == PLAN_ACCOUNT:
            continue
        grant_entry(api, account, "f-tokens", 3, effectiveFrom=start)
        grant_entry(api, account, "f-tokens", 2, source="OVERAGE", effectiveFrom=start)
        grant_entry(api, account, "f-images", 2, effectiveFrom=start)
    plan = {
        "name": "Plan " + schema,
        "type": "BILLING",
        "cycle": "MONTHLY",
        "features": [
            {"featureId": "f-tokens", "creditsPerCycle": 4, "overagePerCycle": 1},
            {"featureId": "f-images", "creditsPerCycle": 2},
        ],
    }
    plan_id = ok_json(api.post("/entitlement_plans", json=plan))["id"]
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    assignment = {"planId": plan_id, "effectiveFrom": yesterday}
    ok_json(api.post(f"/accounts/{PLAN_ACCOUNT}/plans", json=assignment))
    # An id received before the stream: a duplicate of it answers with this outcome.
    body = {
        "event": {
            "schemaName": schema,
            "id": IDS[0],
            "timestamp": start,
            "accountId": ACCOUNTS[0],
            "attributes": [{"name": "tokens", "value": "1"}, {"name": "images", "value": "0"}],
            "dimensions": {},
        }
    }
    assert api.post("/entitled", json=body).status_code == 200


events = st.lists(
    st.tuples(
        st.sampled_from((*ACCOUNTS, PLAN_ACCOUNT, "acc-missing")),
        st.one_of(st.none(), st.sampled_from(IDS)),
        st.integers(0, 4),  # tokens
        st.one_of(st.none(), st.integers(0, 3)),  # images (None: the attribute is missing)
    ),
    min_size=2,
    max_size=24,
)


def _received(schema: str, stream: list[tuple[str, str | None, int, int | None]]) -> list[Received]:
    at = datetime.now(UTC)
    out: list[Received] = []
    for n, (account, event_id, tokens, images) in enumerate(stream):
        attributes = [("tokens", str(tokens))] + (
            [] if images is None else [("images", str(images))]
        )
        event = EventInput(schema, event_id, at, account, attributes, {"n": n})
        # An event without id gets a fresh one, the same on both sides.
        out.append(Received(event, event_id or f"gen-{n}", named_attributes(attributes)))
    return out


def _answers(outcomes: list[Outcome]) -> list[tuple[int, str]]:
    return [(200, "") if o.error is None else (o.error.status, o.error.message) for o in outcomes]


async def _run(url: str, orgs: tuple[str, str], batch: list[Received]) -> tuple[Any, Any]:
    db = open_database(url)
    try:
        ctx = Context(db, SystemClock())
        async with db.engine.connect() as conn:
            ids = [await tenant_store.org_id_by_name(conn, name) for name in orgs]
        together, alone = ctx.tenant(str(ids[0])), ctx.tenant(str(ids[1]))
        batched = await ingest_batch(together, batch)
        one_by_one = [(await ingest_batch(alone, [r]))[0] for r in batch]
        return _answers(batched), _answers(one_by_one)
    finally:
        await db.dispose()


def _ledger(api: httpx.Client) -> list[tuple[str, str, Any, Any]]:
    found = []
    for account in (*ACCOUNTS, PLAN_ACCOUNT):
        for feature in ("f-tokens", "f-images"):
            for e in reversed(feature_entries(api, account, feature)):
                found.append((account, feature, e["granted"], e["used"]))
    return found


@settings(
    max_examples=max(8, settings.default.max_examples // 8),  # each one: many server round trips
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(stream=events)
def test_a_batch_decides_as_its_events_one_by_one(server: Server, stream: Any) -> None:
    orgs = ("org-" + secrets.token_hex(6), "org-" + secrets.token_hex(6))
    schema = "usage_" + secrets.token_hex(4)
    clients = [server.client(server.key(org)) for org in orgs]
    try:
        for api in clients:
            _set_up(api, schema)
        batched, one_by_one = asyncio.run(
            _run(server.database_url, orgs, _received(schema, stream))
        )
        assert batched == one_by_one
        assert _ledger(clients[0]) == _ledger(clients[1])
    finally:
        for api in clients:
            api.close()
