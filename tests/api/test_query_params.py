"""Query parameters are checked, not ignored: every API operation (and every console page)
refuses one it does not declare with a 400 naming it and what it takes, before it reads or
changes anything. A misspelt filter — `GET /credits?accountId=…` for `account_id` — used to
be dropped, so the answer held every credit of the organization."""

from __future__ import annotations

import contextlib
import re
from typing import Any

import httpx

from tests.api.console_client import Console
from tests.helpers import error_message, grant, new_account, new_schema, ok_json, usage_event
from tests.helpers import new_feature as feature_of
from tests.servers import Server, iter_pages


def _world(api: httpx.Client) -> dict[str, str]:
    """Ids that exist, by the path parameter that names them, so that a request that got past
    the check would really find (and could change) something."""
    account = new_account(api)
    credit = grant(api, account, 100)["id"]
    schema = new_schema(api, ("tokens",))
    feature = feature_of(api, [(schema, "tokens")])
    body = {"invoiceId": "inv-1", "lines": [{"entityId": "x", "amount": 1}]}
    ok_json(api.post(f"/accounts/{account}/credit_holds", json=body))
    topup = {"thresholdAmount": 10, "topupAmount": 50, "maxPerMonth": 3}
    ok_json(api.put(f"/accounts/{account}/auto_topup", json=topup))
    hook = ok_json(api.post("/webhook_endpoints", json={"url": "http://127.0.0.1:9/h"}), 201)
    customer = ok_json(api.get(f"/accounts/{account}"))["customerId"]
    return {
        "account_id": account,
        "customer_id": customer,
        "credit_id": credit,
        "feature_id": feature,
        "event_schema_name": schema,
        "invoice_id": "inv-1",
        "endpoint_id": hook["id"],
    }


def _snapshot(api: httpx.Client, ids: dict[str, str]) -> list[Any]:
    account = ids["account_id"]
    return [
        list(iter_pages(api, "/credits")),
        list(iter_pages(api, "/accounts")),
        list(iter_pages(api, "/customers")),
        list(iter_pages(api, "/event_schema")),
        list(iter_pages(api, "/webhook_endpoints")),
        api.get(f"/accounts/{account}/credit_balance").json(),
        api.get(f"/accounts/{account}/credit_holds/inv-1").json(),
        api.get(f"/accounts/{account}/auto_topup").json(),
    ]


def test_every_operation_refuses_an_unknown_query_parameter(server: Server) -> None:
    with server.client() as api:
        ids = _world(api)
        before = _snapshot(api, ids)
        document = ok_json(api.get("/openapi.json"))
        tried = 0
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                if operation.get("security") == []:
                    continue  # the operations endpoints: see the test below
                declared = [
                    p["name"] for p in operation.get("parameters", []) if p["in"] == "query"
                ]
                url = re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), "x"), path)
                body = {} if "requestBody" in operation else None
                r = api.request(method, url, params={"bogus": "1"}, json=body)
                message = error_message(r, 400)
                assert message.startswith("unknown query parameter 'bogus': "), (path, message)
                takes = ", ".join(declared) if declared else "no query parameters"
                assert message.endswith(f" {path} takes {takes}"), (path, message)
                tried += 1
        assert tried > 40
        # Refused before anything was read or written: deletes and voids included.
        assert _snapshot(api, ids) == before


def test_a_misspelt_filter_is_refused_not_ignored(server: Server) -> None:
    with server.client() as api:
        mine, theirs = new_account(api), new_account(api)
        grant(api, mine, 5)
        grant(api, theirs, 7)
        message = error_message(api.get("/credits", params={"accountId": mine}), 400)
        assert message == (
            "unknown query parameter 'accountId': GET /credits takes status, account_id, id, "
            "nextToken, pageSize"
        )
        two = api.get("/credits", params={"account_id": mine, "colour": "red", "Status": "x"})
        assert "parameters 'colour', 'Status'" in error_message(two, 400)
        [only] = ok_json(api.get("/credits", params={"account_id": mine}))["data"]
        assert only["accountId"] == mine
        # A path that takes none says so.
        none = error_message(api.get(f"/accounts/{mine}/credit_balance?asof=2020-01-01"), 400)
        assert none.endswith("GET /accounts/{account_id}/credit_balance takes asOf")
        assert "takes no query parameters" in error_message(
            api.post(f"/credits/{only['id']}/void", params={"force": "true"}), 400
        )
        assert ok_json(api.get(f"/credits/{only['id']}"))["status"] == "ACTIVE"


def test_the_gate_refuses_a_query_string_and_keeps_the_event_id(server: Server) -> None:
    """`POST /entitled` (answered by the door before routing when valid) takes no query
    parameter: with one, the route answers 400 and the event id stays unused."""
    with server.client() as api:
        account = new_account(api)
        schema = new_schema(api, ("tokens",))
        feature_of(api, [(schema, "tokens")])
        event = usage_event(schema, account, "2030-01-01T00:00:00Z", "q-1", tokens="0")
        message = error_message(api.post("/entitled", params={"dryRun": "true"}, json=event), 400)
        assert message == (
            "unknown query parameter 'dryRun': POST /entitled takes no query parameters"
        )
        assert ok_json(api.post("/entitled", json=event)) == {"success": True}


def test_console_pages_refuse_what_they_do_not_read(server: Server) -> None:
    key = server.key()
    with server.client(key) as api:
        account = new_account(api)
        grant(api, account, 5)
    console = Console(server, key)
    with contextlib.closing(console):
        page = console.get(f"/console/accounts/{account}", aOf="2020-01-01")
        assert page.status_code == 400
        assert "unknown query parameter &#39;aOf&#39;" in page.text
        assert "asOf" in page.text and "Nothing was changed" in page.text
        assert console.get("/console/accounts", q=account, after="x").status_code == 200
        with_known = console.get(f"/console/accounts/{account}", ledger="x", done="grant")
        assert with_known.status_code == 200
        assert console.get("/console/catalog", page="2").status_code == 400
        assert console.get("/console/alerts", incidents="x", done="1").status_code == 200
        r = console.http.post(f"/console/accounts/{account}/actions/void-credit?x=1", data={})
        assert r.status_code == 400


def test_probes_ignore_their_query_string(server: Server) -> None:
    """Load balancers and uptime checkers decorate probe URLs (`?_=<time>` cache-busters): the
    operations endpoints are the one exception, and answer as without it."""
    for path in ("/healthz", "/readyz", "/metrics"):
        assert httpx.get(server.base_url + path, params={"_": "1"}).status_code == 200
