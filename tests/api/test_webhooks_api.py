"""Webhooks end to end: a real server, a real receiver on a local port, the `standardwebhooks`
library verifying every signature; on SQLite and PostgreSQL, each on a fresh database."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from grantledger.clock import SystemClock
from grantledger.domain.webhooks import EVENT_TYPES
from grantledger.service.context import Context
from grantledger.store import tables
from grantledger.store.database import Database
from grantledger.store.notifications import webhooks as store
from grantledger.store.tx import Tx
from tests.helpers import grant, new_account, ok_json
from tests.notify_servers import assert_verified, fresh_database, notify_server
from tests.receiver import Receiver, verified
from tests.servers import Server, iter_pages


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def hub(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp(f"notify-{request.param}")
    for url in fresh_database(request.param, directory):
        server = notify_server(url, directory, GRANTLEDGER_SWEEP_INTERVAL="0.5")
        try:
            yield server
        finally:
            server.stop()
            assert_verified(url)


@pytest.fixture
def api(hub: Server) -> Iterator[httpx.Client]:
    with hub.client() as client:
        yield client
    hub.set_clock(None)


def endpoint(api: httpx.Client, url: str, **fields: Any) -> dict[str, Any]:
    return ok_json(api.post("/webhook_endpoints", json={"url": url, **fields}), 201)


def debit(api: httpx.Client, account: str, amount: Any, kind: str = "credit_debits") -> None:
    body = {
        "invoiceId": "inv-" + secrets.token_hex(6),
        "lines": [{"entityId": "x", "amount": amount}],
    }
    ok_json(api.post(f"/accounts/{account}/{kind}", json=body))


def test_every_event_type_arrives_once_signed(api: httpx.Client, hub: Server) -> None:
    hub.set_clock("2030-06-15T12:00:00Z")
    receiver = Receiver()
    try:
        created = endpoint(api, receiver.url, description="all")
        secret = created["secret"]
        assert secret.startswith("whsec_")
        assert "eventTypes" not in created or created["eventTypes"] is None
        account = new_account(api)
        ok_json(
            api.put(
                f"/accounts/{account}/auto_topup",
                json={"thresholdAmount": 20, "topupAmount": 100, "maxPerMonth": 5},
            )
        )
        first = grant(api, account, 100, priority=1)
        # Created above the line: no incident yet (one below it would open at once).
        alert = ok_json(
            api.post(
                "/alerts",
                json={
                    "alertTemplateId": "credit_balance_below",
                    "interval": 60,
                    "status": "ACTIVE",
                    "entityDetails": {"account": {"id": account}},
                    "parameters": {"threshold": {"amount": "50"}},
                },
            )
        )
        hold = {"invoiceId": "inv-h1", "lines": [{"entityId": "x", "amount": 30}]}
        ok_json(api.post(f"/accounts/{account}/credit_holds", json=hold))
        ok_json(api.post(f"/accounts/{account}/credit_holds/inv-h1/capture"))
        hold = {"invoiceId": "inv-h2", "lines": [{"entityId": "x", "amount": 10}]}
        ok_json(api.post(f"/accounts/{account}/credit_holds", json=hold))
        ok_json(api.post(f"/accounts/{account}/credit_holds/inv-h2/release"))
        debit(api, account, 25)  # 45 left: below 50, an incident opens
        second = grant(api, account, 20, priority=2)  # 65: resolved
        debit(api, account, 50)  # 15: the first credit is consumed, below 20: topped up
        ok_json(api.post(f"/credits/{second['id']}/void"))
        third = grant(
            api, account, 5, priority=3, effectiveFrom="2030-06-15", effectiveUntil="2030-06-15"
        )
        # Usage: an ingested event its entry covers only in part, then undone.
        schema = "usage-" + account
        ok_json(
            api.post(
                "/event_schema",
                json={"name": schema, "attributes": [{"name": "tokens"}], "dimensions": []},
            ),
            201,
        )
        feature = ok_json(
            api.post(
                "/features",
                json={
                    "name": "Tokens",
                    "schemaAssociations": [{"schemaName": schema, "attributeName": "tokens"}],
                },
            )
        )["id"]
        entry = {"granted": 3, "effectiveFrom": "2030-06-01T00:00:00Z"}
        ok_json(api.post(f"/accounts/{account}/features/{feature}/entries", json=entry))
        usage = {
            "schemaName": schema,
            "id": "usage-1",
            "accountId": account,
            "timestamp": "2030-06-15T11:00:00Z",
            "attributes": [{"name": "tokens", "value": "5"}],
            "dimensions": {},
        }
        ok_json(api.post("/ingest", json={"event": usage}), 202)
        undone = api.post("/events/correction", params={"action": "UNDO"}, json={"event": usage})
        assert ok_json(undone)["data"][0]["status"] == "REVERTED"
        held = f"/accounts/{account}/feature_holds"
        one = [{"featureId": feature, "units": 1}]
        ok_json(api.post(held, json={"id": "fh-lapse", "features": one, "expiresIn": "PT1M"}), 201)
        ok_json(api.post(held, json={"id": "fh-short", "features": [{**one[0], "units": 2}]}), 201)
        used = {"features": [{"featureId": feature, "units": 4}]}  # 2 held, 2 beyond: uncovered
        ok_json(api.post(f"{held}/fh-short/settle", json=used))
        hub.set_clock("2030-06-16T00:00:01Z")
        assert ok_json(api.get(f"/credits/{third['id']}"))["status"] == "EXPIRED"

        wanted = set(EVENT_TYPES)
        got = receiver.wait_for(lambda rs: wanted <= {r.json["type"] for r in rs})
        time.sleep(1.0)  # anything sent twice would arrive by now
        got = receiver.delivered()
        ids = [r.id for r in got]
        assert len(ids) == len(set(ids)), "a message was delivered twice"
        for message in got:
            payload = verified(secret, message)
            assert payload["id"] == message.id
        types = [r.json["type"] for r in got]
        for kind in EVENT_TYPES:
            assert kind in types
        granted = {r.json["data"]["id"] for r in receiver.of_type("credit.granted")}
        assert {first["id"], second["id"], third["id"]} <= granted
        assert len(receiver.of_type("incident.opened")) == 1
        assert len(receiver.of_type("incident.resolved")) == 1
        opened = receiver.of_type("incident.opened")[0].json["data"]
        assert opened["alertId"] == alert["id"] and opened["status"] == "OPEN"
        assert opened["reportData"]["balance"]["runningBalance"] == "45"
        [consumed] = receiver.of_type("credit.consumed")
        assert consumed.json["data"]["id"] == first["id"]
        [voided] = receiver.of_type("credit.voided")
        assert voided.json["data"]["status"] == "VOIDED"
        [expired] = receiver.of_type("credit.expired")
        assert expired.json["data"]["id"] == third["id"]
        [topup] = receiver.of_type("auto_topup.granted")
        assert topup.json["data"]["accountId"] == account
        assert topup.json["data"]["purpose"] == "Auto top-up"
        assert b'"creditAmount":100,' in topup.body  # exact, as the API writes it
        # The ingested event's shortfall, and the hold settlement's (recorded usage as well).
        shortfalls = {
            r.json["data"]["eventPayload"].get("id"): r for r in receiver.of_type("usage.shortfall")
        }
        assert set(shortfalls) == {"usage-1", "fh-short"}  # a settlement is an Event too
        assert shortfalls["fh-short"].json["data"]["eventPayload"]["schemaName"] == (
            "FEATURE_HOLD_SETTLE"
        )
        short = shortfalls["usage-1"]
        assert b'"shortfall":{"' + feature.encode() + b'":2}' in short.body
        [lapsed] = receiver.of_type("feature_hold.expired")
        assert (lapsed.json["data"]["id"], lapsed.json["data"]["status"]) == ("fh-lapse", "EXPIRED")
        [uncovered] = receiver.of_type("feature_hold.shortfall")
        assert uncovered.json["data"]["id"] == "fh-short"
        assert b'"shortfallUnits":2,' in uncovered.body
        [reverted] = receiver.of_type("event.reverted")
        assert reverted.json["data"]["ingestionStatus"]["status"] == "REVERTED"
        assert reverted.json["data"]["eventPipelineInfo"]["statusBeforeReverting"] == (
            "INGESTION_COMPLETED_EVENT_METERED"
        )
        placed = [r.json["data"]["invoiceId"] for r in receiver.of_type("hold.placed")]
        assert {"inv-h1", "inv-h2"} <= set(placed)  # debits are holds captured at once
        assert receiver.of_type("hold.captured")[0].json["data"]["status"] == "CAPTURED"
        assert receiver.of_type("hold.released")[0].json["data"]["status"] == "RELEASED"
        # The deliveries list agrees: every message DELIVERED in one attempt.
        listed = ok_json(api.get(f"/webhook_endpoints/{created['id']}/deliveries"))["data"]
        assert {d["id"] for d in listed} == set(ids)
        late = [d for d in listed if d["status"] != "DELIVERED" or d["attempts"] != 1]
        assert late == [], str(late)
        assert all(d["lastStatusCode"] == 200 for d in listed)
    finally:
        receiver.close()


def test_a_500_is_retried_with_the_same_webhook_id(api: httpx.Client) -> None:
    receiver = Receiver(lambda n: 500 if n == 0 else 200)
    try:
        created = endpoint(api, receiver.url, eventTypes=["credit.granted"])
        grant(api, new_account(api), 10)
        got = receiver.wait_for(lambda rs: len(rs) >= 2)
        assert [r.answered for r in got[:2]] == [500, 200]
        assert got[0].id == got[1].id
        assert got[0].body == got[1].body
        verified(created["secret"], got[1])
        deliveries = ok_json(api.get(f"/webhook_endpoints/{created['id']}/deliveries"))["data"]
        [one] = deliveries
        assert one["id"] == got[0].id
        assert one["status"] == "DELIVERED" and one["attempts"] == 2
        assert one["lastStatusCode"] == 200
    finally:
        receiver.close()


def test_failed_after_the_schedule_then_retried_by_hand(api: httpx.Client) -> None:
    failing = {"on": True}
    receiver = Receiver(lambda _n: 503 if failing["on"] else 200)
    try:
        created = endpoint(api, receiver.url, eventTypes=["credit.granted"])
        path = f"/webhook_endpoints/{created['id']}/deliveries"
        grant(api, new_account(api), 10)
        # Schedule "1,1": three attempts, at 0, 1 and 2 seconds, then FAILED.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            [one] = ok_json(api.get(path))["data"]
            if one["status"] == "FAILED":
                break
            time.sleep(0.2)
        assert one["status"] == "FAILED" and one["attempts"] == 3
        assert one["lastStatusCode"] == 503 and "nextAttemptAt" not in one
        assert len(receiver.snapshot()) == 3
        assert {r.id for r in receiver.snapshot()} == {one["id"]}
        failing["on"] = False
        retried = ok_json(api.post(f"{path}/{one['id']}/retry"))
        assert retried["status"] == "PENDING"
        got = receiver.wait_for(lambda rs: any(r.answered == 200 for r in rs))
        assert got[-1].id == one["id"]
        verified(created["secret"], got[-1])
        missing = api.post(f"{path}/msg.nope/retry")
        assert missing.status_code == 404
    finally:
        receiver.close()


def test_a_disabled_endpoint_receives_nothing(api: httpx.Client) -> None:
    on, off = Receiver(), Receiver()
    try:
        endpoint(api, on.url, eventTypes=["credit.granted"])
        disabled = endpoint(api, off.url)
        changed = ok_json(
            api.patch(f"/webhook_endpoints/{disabled['id']}", json={"status": "INACTIVE"})
        )
        assert changed["status"] == "INACTIVE" and "secret" not in changed
        account = new_account(api)
        grant(api, account, 10)
        on.wait_for(lambda rs: len(rs) >= 1)
        time.sleep(1.5)
        assert off.snapshot() == []
        assert ok_json(api.get(f"/webhook_endpoints/{disabled['id']}/deliveries"))["data"] == []
    finally:
        on.close()
        off.close()


def test_endpoint_crud_never_shows_the_secret_but_rotates_it(api: httpx.Client) -> None:
    created = endpoint(api, "http://127.0.0.1:9/hook", eventTypes=["hold.placed"])
    path = f"/webhook_endpoints/{created['id']}"
    shown = ok_json(api.get(path))
    assert "secret" not in shown and shown["eventTypes"] == ["hold.placed"]
    listed = ok_json(api.get("/webhook_endpoints"))["data"]
    assert [e["id"] for e in listed] == [created["id"]]
    assert all("secret" not in e for e in listed)
    rotated = ok_json(api.post(f"{path}/rotate_secret"))
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != created["secret"]
    assert ok_json(api.delete(path)) == {"success": True}
    assert api.get(path).status_code == 404
    assert api.delete(path).status_code == 404


def test_concurrent_crossings_open_one_incident_and_top_up_once(
    api: httpx.Client, hub: Server
) -> None:
    watched, topped = new_account(api), new_account(api)
    for account in (watched, topped):
        grant(api, account, 350)
    alert = ok_json(
        api.post(
            "/alerts",
            json={
                "alertTemplateId": "credit_balance_below",
                "interval": 60,
                "status": "ACTIVE",
                "entityDetails": {"account": {"id": watched}},
                "parameters": {"threshold": {"amount": 300}},
            },
        )
    )
    ok_json(
        api.put(
            f"/accounts/{topped}/auto_topup",
            json={"thresholdAmount": 100, "topupAmount": 50, "maxPerMonth": 10},
        )
    )
    key = api.headers["Authorization"]

    def spend(account: str) -> int:
        with httpx.Client(base_url=hub.base_url, headers={"Authorization": key}, timeout=60) as c:
            body = {
                "invoiceId": "inv-" + secrets.token_hex(8),
                "lines": [{"entityId": "x", "amount": 1}],
            }
            return c.post(f"/accounts/{account}/credit_debits", json=body).status_code

    with ThreadPoolExecutor(max_workers=24) as pool:
        codes = list(pool.map(spend, [watched, topped] * 300))
    assert codes.count(200) == 600, {c: codes.count(c) for c in set(codes)}
    incidents = ok_json(api.get("/incidents", params={"alertId": alert["id"]}))["data"]
    assert len(incidents) == 1 and incidents[0]["status"] == "OPEN"
    credits = ok_json(api.get("/credits", params={"account_id": topped}))["data"]
    assert [c["purpose"] for c in credits].count("Auto top-up") == 1
    balance = ok_json(api.get(f"/accounts/{topped}/credit_balance"))
    assert str(balance["runningBalance"]) == "100"
    state = ok_json(api.get(f"/accounts/{topped}/auto_topup"))
    assert state["topupsThisMonth"] == 1


def test_time_alone_expires_and_warns_through_the_sweeper(api: httpx.Client, hub: Server) -> None:
    """No request after the clock moves: the sweeper expires the credit and fires the alert."""
    hub.set_clock("2031-01-10T12:00:00Z")
    receiver = Receiver()
    try:
        types = ["credit.expired", "incident.opened"]
        created = endpoint(api, receiver.url, eventTypes=types)
        account = new_account(api)
        short = grant(api, account, 5, effectiveFrom="2031-01-01", effectiveUntil="2031-01-11")
        later = grant(api, account, 9, effectiveFrom="2031-01-01", effectiveUntil="2031-01-25")
        ok_json(
            api.post(
                "/alerts",
                json={
                    "alertTemplateId": "credit_expiring",
                    "interval": 1440,
                    "status": "ACTIVE",
                    "entityDetails": {"account": {"id": account}},
                    "parameters": {"window": {"days": 7}},
                },
            )
        )
        first = receiver.wait_for(lambda rs: len(rs) >= 1)  # `short` is within 7 days
        assert first[0].json["data"]["reportData"]["credit"]["id"] == short["id"]
        hub.set_clock("2031-01-20T00:00:00Z")
        got = receiver.wait_for(lambda rs: len(rs) >= 3)
        [expired] = [r.json["data"] for r in got[1:] if r.json["type"] == "credit.expired"]
        [warned] = [r.json["data"] for r in got[1:] if r.json["type"] == "incident.opened"]
        assert expired["id"] == short["id"] and expired["status"] == "EXPIRED"
        assert warned["reportData"]["credit"]["id"] == later["id"]
        for message in got:
            verified(created["secret"], message)
    finally:
        receiver.close()


def test_a_rotated_secret_signs_what_follows(api: httpx.Client) -> None:
    receiver = Receiver()
    try:
        created = endpoint(api, receiver.url, eventTypes=["credit.granted"])
        account = new_account(api)
        grant(api, account, 1)
        [before] = receiver.wait_for(lambda rs: len(rs) >= 1)
        verified(created["secret"], before)
        rotated = ok_json(api.post(f"/webhook_endpoints/{created['id']}/rotate_secret"))
        grant(api, account, 2)
        after = receiver.wait_for(lambda rs: len(rs) >= 2)[1]
        verified(rotated["secret"], after)
        with pytest.raises(Exception, match="signature"):
            verified(created["secret"], after)
    finally:
        receiver.close()


def test_bad_endpoint_input_is_a_400_and_changes_nothing(api: httpx.Client) -> None:
    for body in (
        {"url": "http://127.0.0.1:9/h", "eventTypes": ["credit.granted", "credit.nope"]},
        {"url": "http://127.0.0.1:9/h", "eventTypes": []},
        {"url": "http://127.0.0.1:9/h", "secret": "mine"},
        {"url": ""},
        {},
    ):
        assert api.post("/webhook_endpoints", json=body).status_code == 400, body
    assert ok_json(api.get("/webhook_endpoints"))["data"] == []
    created = endpoint(api, "http://127.0.0.1:9/h")
    path = f"/webhook_endpoints/{created['id']}"
    assert api.patch(path, json={"status": "PAUSED"}).status_code == 400
    assert api.patch(path, json={"url": "gopher://x"}).status_code == 400
    assert ok_json(api.get(path))["status"] == "ACTIVE"
    assert api.get("/webhook_endpoints/whep.none/deliveries").status_code == 404


def test_an_organization_has_at_most_20_endpoints_even_when_creating_them_at_once(
    api: httpx.Client,
) -> None:
    for n in range(15):
        endpoint(api, f"http://127.0.0.1:9/hook-{n}", eventTypes=["credit.granted"])
    body = {"url": "http://127.0.0.1:9/more", "eventTypes": ["credit.granted"]}
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda _: api.post("/webhook_endpoints", json=body), range(10)))
    assert sorted(a.status_code for a in answers) == [201] * 5 + [409] * 5
    refused = next(a for a in answers if a.status_code == 409)
    assert "20 webhook endpoints" in refused.json()["message"]
    listed = ok_json(api.get("/webhook_endpoints"))["data"]
    assert len(listed) == 20
    ok_json(api.delete(f"/webhook_endpoints/{listed[0]['id']}"))
    endpoint(api, "http://127.0.0.1:9/room-again")


def test_a_change_fans_out_to_at_most_20_endpoints(api: httpx.Client, hub: Server) -> None:
    """Even for an organization holding more (made before the bound): the oldest 20 get it."""
    made = [
        endpoint(api, f"http://127.0.0.1:9/f{n}", eventTypes=["credit.granted"]) for n in range(20)
    ]
    asyncio.run(_add_endpoints_behind_the_api(hub.database_url, made[0]["id"], 5))
    assert len(list(iter_pages(api, "/webhook_endpoints"))) == 25
    grant(api, new_account(api), 1)
    counts = {
        e["id"]: len(ok_json(api.get(f"/webhook_endpoints/{e['id']}/deliveries"))["data"])
        for e in iter_pages(api, "/webhook_endpoints")
    }
    assert sum(counts.values()) == 20
    assert all(counts[e["id"]] == 1 for e in made)


async def _add_endpoints_behind_the_api(url: str, like: str, count: int) -> None:
    ctx = Context(Database(url), SystemClock())
    try:

        async def org_of(conn: Any) -> str:
            row = await conn.execute(
                sa.select(tables.webhook_endpoints.c.org_id).where(
                    tables.webhook_endpoints.c.id == like
                )
            )
            return str(row.scalar_one())

        tenant = ctx.tenant(await ctx.db.run(org_of))

        async def work(tx: Tx) -> None:
            model = await store.get_endpoint(tx, like)
            assert model is not None
            for n in range(count):
                await store.insert_endpoint(
                    tx, dataclasses.replace(model, id=f"whep.zzzzzzzzzz{n}.extra")
                )

        await tenant.run(work)
    finally:
        await ctx.db.dispose()


def test_an_endpoint_receives_only_what_happens_after_it_was_created(api: httpx.Client) -> None:
    account = new_account(api)
    before = grant(api, account, 100)
    hold = {"invoiceId": "inv-before", "lines": [{"entityId": "x", "amount": 5}]}
    ok_json(api.post(f"/accounts/{account}/credit_holds", json=hold))
    receiver = Receiver()
    try:
        endpoint(api, receiver.url)  # every event type
        after = grant(api, account, 1)
        debit(api, account, 2)
        receiver.wait_for(lambda rs: any(r.json["type"] == "hold.captured" for r in rs))
        time.sleep(1.0)  # anything older would have been sent with these
        granted = {r.json["data"]["id"] for r in receiver.of_type("credit.granted")}
        assert granted == {after["id"]}, "a credit granted before the endpoint was announced"
        placed = {r.json["data"]["invoiceId"] for r in receiver.of_type("hold.placed")}
        assert "inv-before" not in placed
        assert before["id"] not in granted
    finally:
        receiver.close()
