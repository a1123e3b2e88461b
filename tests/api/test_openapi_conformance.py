"""`/openapi.json` describes the real API: real answers are validated against the document.

Two halves, on both databases. A bounded schemathesis run (requests generated from the document,
valid and invalid, a few per operation, some aimed at ids that exist) must get no 500 and only
documented statuses, content types, headers and bodies. A scripted walk through every
operation's success path validates each real answer against the document.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.helpers import new_schema
from tests.servers import Server

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# A few examples per operation keep the run at a few hundred requests per database.
EXAMPLES = 6


@dataclass
class Known:
    """Ids that exist in the tenant, substituted into generated paths half of the time."""

    ids: dict[str, str]
    headers: dict[str, str]


@pytest.fixture(scope="module")
def known(server: Server) -> Iterator[Known]:
    server.set_clock(None)
    with server.client() as api:
        ids = _walk(server, api, check=None)
        yield Known(ids, {"Authorization": str(api.headers["authorization"])})


def test_generated_requests_get_documented_answers(server: Server, known: Known) -> None:
    schema = schemathesis.openapi.from_url(server.base_url + "/openapi.json", timeout=30)
    failures: list[str] = []
    count = 0
    documented: set[str] = set()
    tried: set[str] = set()
    for result in schema.get_all_operations():
        operation = result.ok()
        operation_name = f"{operation.method.upper()} {operation.path}"
        documented.add(operation_name)

        cases = st.one_of(
            operation.as_strategy(), operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
        )

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=cases, aim=st.booleans())
        def run(case: Any, aim: bool) -> None:
            nonlocal count
            if aim and case.path_parameters:
                for parameter in case.path_parameters:
                    if parameter in known.ids:
                        case.path_parameters[parameter] = known.ids[parameter]
            count += 1
            tried.add(f"{case.operation.method.upper()} {case.operation.path}")
            case.call_and_validate(
                base_url=server.base_url, headers=known.headers, checks=CHECKS, timeout=30
            )

        try:
            run()
        except Exception as error:  # every operation is tried; all failures are reported
            failures.append(f"{operation.method.upper()} {operation.path}: {error}"[:2000])
    assert not failures, "\n\n".join(failures)
    assert tried == documented  # every operation, the alerts and webhooks ones included
    assert count >= EXAMPLES * 40


def test_every_success_answer_matches_the_document(server: Server) -> None:
    server.set_clock(None)
    with server.client() as api:
        _walk(server, api, check=schemathesis.openapi.from_url(server.base_url + "/openapi.json"))


def _walk(server: Server, api: httpx.Client, check: Any) -> dict[str, str]:
    """Every operation once, on its success path (and the gate's 403 and 409); each answer is
    validated against the document when `check` is the loaded schema. Returns the ids made."""
    tag = secrets.token_hex(3)
    seen: set[tuple[str, str]] = set()

    def call(
        method: str,
        template: str,
        status: int,
        body: Any = None,
        params: dict[str, str] | None = None,
        **ids: str,
    ) -> Any:
        path = template.format(**{k: quote(v, safe="") for k, v in ids.items()})
        r = api.request(method, path, json=body, params=params)
        assert r.status_code == status, (method, path, r.text)
        if check is not None:
            check[template][method].validate_response(r)
            seen.add((method, template))
        return (
            r.json() if r.headers.get("content-type", "").startswith("application/json") else None
        )

    customer, account = f"cus-{tag}", f"acc-{tag}"
    address = {"line1": "1 Main St", "country": "US"}
    call(
        "POST",
        "/customers",
        201,
        {
            "id": customer,
            "name": "Customer",
            "primaryEmail": "a@b.c",
            "address": address,
            "account": {
                "id": account,
                "name": "Account",
                "tags": ["Gold"],
                "metadata": {"k": "v"},
                "aliases": ["alias-1"],
            },
        },
    )
    call("GET", "/customers/{customer_id}", 200, customer_id=customer)
    call("GET", "/customers", 200)
    call("POST", "/accounts", 201, {"customerId": customer, "id": f"acc2-{tag}", "name": "Second"})
    call("GET", "/accounts/{account_id}", 200, account_id=account)
    call("GET", "/accounts", 200)
    call("PATCH", "/accounts/{account_id}", 200, {"netTermDays": 30}, account_id=account)
    call("PATCH", "/customers/{customer_id}", 200, {"name": "Renamed"}, customer_id=customer)
    # Deletions on their success path take spares: the ids returned stay, with things hanging
    # on them, so generated deletions aimed at them are refused (409) and change nothing.
    spare = {"id": f"spare-{tag}", "name": "Spare", "primaryEmail": "s@b.c", "address": {}}
    call("POST", "/customers", 201, {**spare, "account": {"id": f"spare-{tag}", "name": "Spare"}})
    call("DELETE", "/accounts/{account_id}", 200, account_id=f"spare-{tag}")
    call("DELETE", "/customers/{customer_id}", 200, customer_id=f"spare-{tag}")

    grant = {
        "accountId": account,
        "purpose": "Prepaid",
        "effectiveFrom": "2020-01-01",
        "priority": 1,
        "creditAmount": 100,
        "effectiveUntil": "2099-12-31",
    }
    credit = call("POST", "/credits", 200, {"creditRequests": [grant, {**grant, "priority": 2}]})
    credit_id, spare = (c["id"] for c in credit["credits"])
    call("GET", "/credits/{credit_id}", 200, credit_id=credit_id)
    call("GET", "/credits", 200)
    call("POST", "/credits/{credit_id}/void", 200, credit_id=spare)
    call("GET", "/accounts/{account_id}/credit_balance", 200, account_id=account)
    lines = [{"entityId": "api", "entityType": "USAGE_METER_RATE_CARD", "amount": 5}]
    holds = "/accounts/{account_id}/credit_holds"
    call("POST", holds, 200, {"invoiceId": "inv-1", "lines": lines}, account_id=account)
    call("POST", holds, 200, {"invoiceId": "inv-2", "lines": lines}, account_id=account)
    call(
        "POST",
        "/accounts/{account_id}/credit_debits",
        200,
        {"invoiceId": "inv-3", "lines": lines},
        account_id=account,
    )
    one = holds + "/{invoice_id}"
    call("POST", one + "/capture", 200, account_id=account, invoice_id="inv-1")
    call("POST", one + "/release", 200, account_id=account, invoice_id="inv-2")
    call("GET", one, 200, account_id=account, invoice_id="inv-3")
    call("GET", holds, 200, account_id=account)
    notify_ids = _walk_notify(call, account, grant)

    schema_name = new_schema(api) if check is None else f"usage_{tag}"
    if check is not None:
        call(
            "POST",
            "/event_schema",
            201,
            {
                "name": schema_name,
                "attributes": [{"name": "tokens"}],
                "dimensions": [{"name": "region"}],
                "filterFields": ["region"],
            },
        )
    named = "/event_schema/{event_schema_name}"
    call("GET", named, 200, event_schema_name=schema_name)
    spare_schema = {"name": f"spare_{tag}", "attributes": [], "dimensions": []}
    call("POST", "/event_schema", 201, spare_schema)
    call("DELETE", named, 200, event_schema_name=spare_schema["name"])
    call("GET", "/event_schema", 200)
    call("POST", named + "/deactivate", 200, event_schema_name=schema_name)
    call("POST", named + "/activate", 200, event_schema_name=schema_name)
    association = [{"schemaName": schema_name, "attributeName": "tokens"}]
    feature = call(
        "POST",
        "/features",
        200,
        {"id": f"tokens-{tag}", "name": "Tokens", "schemaAssociations": association},
    )["id"]
    tier = call(
        "POST",
        "/features",
        200,
        {
            "id": f"tier-{tag}",
            "name": "Tier",
            "schemaAssociations": [],
            "valueType": "ENUM",
            "allowedValues": ["a", "b"],
        },
    )["id"]
    call("GET", "/features/{feature_id}", 200, feature_id=feature)
    call("GET", "/features", 200)
    call("PATCH", "/features/{feature_id}", 200, {"billableName": "Tokens"}, feature_id=tier)
    plan = call(
        "POST",
        "/entitlement_plans",
        200,
        {
            "name": "Pro",
            "type": "BILLING",
            "cycle": "WEEKLY",
            "features": [
                {"featureId": feature, "creditsPerCycle": 10, "overagePerCycle": 2},
                {"featureId": tier, "value": "a"},
            ],
        },
    )["id"]
    bundle = call(
        "POST",
        "/entitlement_plans",
        200,
        {
            "name": "Pack",
            "type": "PURCHASE",
            "features": [{"featureId": feature, "creditsPerCycle": 5, "validity": "P30D"}],
        },
    )["id"]
    call("GET", "/entitlement_plans/{plan_id}", 200, plan_id=plan)
    call("GET", "/entitlement_plans", 200)
    at = "/accounts/{account_id}"
    now = datetime.now(UTC)
    call(
        "POST",
        at + "/plans",
        200,
        {"planId": plan, "effectiveFrom": now.date().isoformat()},
        account_id=account,
    )
    call("GET", at + "/plans", 200, account_id=account)
    purchase = call(
        "POST",
        at + "/purchases",
        200,
        {"pricePlanId": bundle, "rateCardQuantities": {feature: 2}},
        account_id=account,
    )["id"]
    call("GET", "/purchases/{purchase_id}", 200, purchase_id=purchase)
    call("GET", at + "/purchases", 200, account_id=account)
    fa = at + "/features/{feature_id}"
    entry = call(
        "POST",
        fa + "/entries",
        200,
        {"granted": 3, "source": "REFUND"},
        account_id=account,
        feature_id=feature,
    )["id"]
    call(
        "PUT",
        at + "/entitlements/{feature_id}",
        200,
        {"value": "b"},
        account_id=account,
        feature_id=tier,
    )
    call("GET", at + "/entitlements", 200, account_id=account)
    call("GET", at + "/entitlements/{feature_id}", 200, account_id=account, feature_id=tier)
    call(
        "POST",
        at + "/entitlements/{feature_id}",
        200,
        {"value": "b"},
        account_id=account,
        feature_id=tier,
    )
    call("GET", fa, 200, account_id=account, feature_id=feature)
    call("GET", fa + "/entries", 200, account_id=account, feature_id=feature)
    fh = at + "/feature_holds"
    reserve = {"features": [{"featureId": feature, "units": 1}], "expiresIn": "PT5M"}
    call("POST", fh, 201, {"id": f"fh1-{tag}", **reserve}, account_id=account)
    call("POST", fh, 201, {"id": f"fh2-{tag}", **reserve}, account_id=account)
    used = {"features": [{"featureId": feature, "units": 1}]}
    call("POST", fh + "/{hold_id}/settle", 200, used, account_id=account, hold_id=f"fh1-{tag}")
    call("POST", fh + "/{hold_id}/release", 200, account_id=account, hold_id=f"fh2-{tag}")
    call("GET", fh + "/{hold_id}", 200, account_id=account, hold_id=f"fh1-{tag}")
    call("GET", fh, 200, account_id=account)
    call(
        "PATCH",
        fa + "/entries/{entry_id}",
        200,
        {"granted": 4},
        account_id=account,
        feature_id=feature,
        entry_id=entry,
    )
    call(
        "POST",
        fa + "/entries/{entry_id}/void",
        200,
        account_id=account,
        feature_id=feature,
        entry_id=entry,
    )
    event = {
        "schemaName": schema_name,
        "id": f"evt-{tag}",
        "accountId": account,
        "timestamp": now.isoformat(),
        "attributes": [{"name": "tokens", "value": "1"}],
        "dimensions": {"region": "eu"},
    }
    call("POST", "/entitled", 200, {"event": event})
    call("POST", "/entitled", 409, {"event": event})
    call(
        "POST",
        "/entitled",
        403,
        {
            "event": {
                **event,
                "id": f"big-{tag}",
                "attributes": [{"name": "tokens", "value": "1000000"}],
            }
        },
    )
    call("POST", "/ingest", 202, {"event": {**event, "id": f"ingest-{tag}"}})
    call("POST", "/ingestBatch", 202, {"events": [{**event, "id": f"batch-{tag}"}]})
    nobody = {**event, "id": f"nobody-{tag}", "accountId": f"nobody-{tag}"}
    call("POST", "/ingestBatch", 207, {"events": [nobody]})
    listed = call("GET", "/events", 200)
    call("GET", "/events/{event_id}", 200, event_id=listed["events"][0]["referenceId"])
    assert api.get("/events", params={"account_id": f"nobody-{tag}"}).status_code == 204
    undo = {"event": {**event, "id": f"ingest-{tag}"}}
    call("POST", "/events/correction", 200, undo, params={"action": "UNDO"})
    call("GET", "/ledger/entries", 200)
    call("GET", "/audit_log", 200)
    call("GET", "/reports/month_close", 200, params={"month": "2026-11"})
    for operator in ("/healthz", "/readyz"):
        call("GET", operator, 200)
    metrics = api.get("/metrics")
    assert metrics.status_code == 200
    if check is not None:
        check["/metrics"]["GET"].validate_response(metrics)
        documented = {(o.ok().method.upper(), o.ok().path) for o in check.get_all_operations()}
        assert documented - seen == {("GET", "/metrics")}
    return {
        "customer_id": customer,
        "account_id": account,
        "credit_id": credit_id,
        "invoice_id": "inv-1",
        "event_schema_name": schema_name,
        "feature_id": feature,
        "plan_id": plan,
        "purchase_id": purchase,
        "entry_id": entry,
        **notify_ids,
    }


def _walk_notify(call: Any, account: str, grant: dict[str, Any]) -> dict[str, str]:
    """Alert templates, alerts, incidents, webhook endpoints and their deliveries, auto top-up.
    What it leaves behind exists (an endpoint, a setting) so generated requests aimed at these
    ids reach the success path too."""
    call("GET", "/alert_templates", 200)
    template = "credit_balance_below"
    call("GET", "/alert_templates/{template_id}", 200, template_id=template)
    # The worker is off in the tests and private addresses are allowed (tests/servers.py), so
    # nothing is ever sent to this URL; its messages stay PENDING.
    hook = {"url": "http://127.0.0.1:9/hook", "description": "walk"}
    endpoint = call("POST", "/webhook_endpoints", 201, {**hook, "eventTypes": ["credit.granted"]})
    assert endpoint["secret"]
    gone = call("POST", "/webhook_endpoints", 201, hook)["id"]
    endpoint_id = endpoint["id"]
    one = "/webhook_endpoints/{endpoint_id}"
    call("GET", "/webhook_endpoints", 200)
    call("GET", one, 200, endpoint_id=endpoint_id)
    call("PATCH", one, 200, {"description": "changed", "status": "ACTIVE"}, endpoint_id=endpoint_id)
    call("POST", one + "/rotate_secret", 200, endpoint_id=endpoint_id)
    call("POST", "/credits", 200, {"creditRequests": [{**grant, "priority": 3}]})
    deliveries = call("GET", one + "/deliveries", 200, endpoint_id=endpoint_id)["data"]
    message = deliveries[0]["id"]
    retried = call(
        "POST",
        one + "/deliveries/{message_id}/retry",
        200,
        endpoint_id=endpoint_id,
        message_id=message,
    )
    assert retried["status"] == "PENDING"
    call("DELETE", one, 200, endpoint_id=gone)

    alert = call(
        "POST",
        "/alerts",
        200,
        {
            "alertTemplateId": template,
            "interval": 60,
            "status": "ACTIVE",
            "validity": 1440,
            "description": "walk",
            "entityDetails": {"account": {"id": account}},
            "ownerDetails": {"team": {"id": "ops"}},
            # Far above the balance: the incident opens at once.
            "parameters": {"threshold": {"amount": "1000000"}},
        },
    )["id"]
    call("GET", "/alerts", 200)
    call("GET", "/alerts/{alert_id}", 200, alert_id=alert)
    call("PATCH", "/alerts/{alert_id}", 200, {"description": "changed"}, alert_id=alert)
    incidents = call("GET", "/incidents", 200)["data"]
    incident = next(i["id"] for i in incidents if i["alertId"] == alert)
    call("GET", "/incidents/{incident_id}", 200, incident_id=incident)
    call("PUT", "/incidents/{incident_id}/status", 200, {"status": "CLOSED"}, incident_id=incident)

    topup = "/accounts/{account_id}/auto_topup"
    setting = {"thresholdAmount": 0, "topupAmount": 10, "maxPerMonth": 2, "effectiveDays": 30}
    call("PUT", topup, 200, setting, account_id=account)
    call("GET", topup, 200, account_id=account)
    call("DELETE", topup, 200, account_id=account)
    call("PUT", topup, 200, setting, account_id=account)
    return {
        "template_id": template,
        "endpoint_id": endpoint_id,
        "message_id": message,
        "alert_id": alert,
        "incident_id": incident,
    }


def test_the_document_states_errors_security_enums_and_integer_page_sizes(server: Server) -> None:
    doc = httpx.get(server.base_url + "/openapi.json", timeout=30).json()
    text = str(doc)
    assert "'422'" not in text and "HTTPValidationError" not in text and "'detail'" not in text
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "an API key from `grantledger keys create --org NAME`",
    }
    assert doc["security"] == [{"bearerAuth": []}]
    error = {"$ref": "#/components/schemas/Error"}
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            if path in ("/healthz", "/readyz", "/metrics"):
                assert op["security"] == []
                continue
            responses = op["responses"]
            for status in ("400", "401", "429", "500", "503"):
                assert responses[status]["content"]["application/json"]["schema"] == error
            assert ("404" in responses) == ("{" in path or "requestBody" in op), (method, path)
            assert ("403" in responses) == (path == "/entitled")
            assert "Retry-After" in responses["429"]["headers"]
            for parameter in op.get("parameters", []):
                if parameter["name"] == "pageSize":
                    assert parameter["schema"]["type"] == "integer"
                    assert (parameter["schema"]["minimum"], parameter["schema"]["maximum"]) == (
                        1,
                        50,
                    )
    schemas = doc["components"]["schemas"]
    assert schemas["CreditOut"]["properties"]["status"]["enum"] == [
        "ACTIVE",
        "CONSUMED",
        "EXPIRED",
        "VOIDED",
    ]
    assert schemas["HoldOut"]["properties"]["status"]["enum"] == [
        "HELD",
        "CAPTURED",
        "RELEASED",
        "EXPIRED",
    ]
    assert schemas["FeatureHoldOut"]["properties"]["status"]["enum"] == [
        "HELD",
        "SETTLED",
        "RELEASED",
        "EXPIRED",
    ]
    assert set(schemas["FeatureCreditEntryOut"]["properties"]["status"]["enum"]) == {
        "ACTIVE",
        "EXPIRED",
        "VOIDED",
    }
    credits_status = next(
        p for p in doc["paths"]["/credits"]["get"]["parameters"] if p["name"] == "status"
    )
    assert credits_status["schema"]["enum"] == ["ACTIVE", "CONSUMED", "EXPIRED", "VOIDED"]
    incidents_status = next(
        p for p in doc["paths"]["/incidents"]["get"]["parameters"] if p["name"] == "status"
    )
    assert incidents_status["schema"]["enum"] == ["OPEN", "RESOLVED", "CLOSED"]
    assert schemas["IncidentOut"]["properties"]["status"]["enum"] == ["OPEN", "RESOLVED", "CLOSED"]
    assert schemas["AlertOut"]["properties"]["status"]["enum"] == ["ACTIVE", "INACTIVE"]
    assert schemas["EndpointOut"]["properties"]["status"]["enum"] == ["ACTIVE", "INACTIVE"]
    assert schemas["DeliveryOut"]["properties"]["status"]["enum"] == [
        "PENDING",
        "DELIVERED",
        "FAILED",
    ]
