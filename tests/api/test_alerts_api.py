"""Alerts and incidents through Togai's official client (`AlertsApi`), plus their rules and bad
input over raw HTTP, on SQLite and PostgreSQL (the suite's shared servers)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from togai_client import AlertsApi, ApiClient, Configuration
from togai_client.models import (
    Alert,
    AlertStatus,
    CreateAlertRequest,
    UpdateAlertRequest,
    UpdateIncidentStatusRequest,
)

from tests.helpers import error_message, grant, new_account, ok_json
from tests.notify_servers import notify_server
from tests.servers import Server

NOW = "2030-03-10T12:00:00Z"


@pytest.fixture
def alerts_api(server: Server, api: httpx.Client) -> Iterator[AlertsApi]:
    key = api.headers["Authorization"].removeprefix("Bearer ")
    with ApiClient(Configuration(host=server.base_url, access_token=key)) as client:
        yield AlertsApi(client)


def _debit(api: httpx.Client, account: str, invoice: str, amount: Any) -> None:
    body = {"invoiceId": invoice, "lines": [{"entityId": "x", "amount": amount}]}
    ok_json(api.post(f"/accounts/{account}/credit_debits", json=body))


def _balance_alert(account: str | None, amount: str, status: str = "ACTIVE") -> dict[str, Any]:
    body: dict[str, Any] = {
        "alertTemplateId": "credit_balance_below",
        "interval": 60,
        "status": status,
        "parameters": {"threshold": {"amount": amount}},
    }
    if account is not None:
        body["entityDetails"] = {"account": {"id": account}}
    return body


def test_the_official_client_parses_every_answer(alerts_api: AlertsApi, api: httpx.Client) -> None:
    templates = alerts_api.get_alert_templates()
    ids = [t.id for t in templates.data]
    assert {"credit_balance_below", "feature_balance_below", "credit_expiring"} <= set(ids)
    assert alerts_api.get_alert_template("credit_expiring").id == "credit_expiring"
    account = new_account(api)
    grant(api, account, 100)
    alert = alerts_api.create_alert(
        CreateAlertRequest(
            alert_template_id="credit_balance_below",
            interval=60,
            validity=1440,
            description="low balance",
            entity_details={"account": {"id": account}},
            parameters={"threshold": {"amount": "80"}},
            status=AlertStatus.ACTIVE,
        )
    )
    assert isinstance(alert, Alert) and alert.version == 1 and alert.validity == 1440
    assert alert.parameters == {"threshold": {"amount": "80"}}
    assert [a.id for a in alerts_api.list_alerts().data] == [alert.id]
    assert alerts_api.get_incidents().data == []
    _debit(api, account, "inv-1", 30)  # 70: below 80
    [incident] = alerts_api.get_incidents().data
    assert incident.alert_id == alert.id and incident.status == "OPEN"
    assert incident.alert_template_id == "credit_balance_below" and incident.valid_until
    assert incident.report_data == {
        "account": {"id": account},
        "balance": {"runningBalance": "70", "threshold": "80"},
    }
    assert alerts_api.get_incident(incident.id).id == incident.id
    closed = alerts_api.update_incident_status(
        incident.id, UpdateIncidentStatusRequest(status="CLOSED")
    )
    assert closed.status == "CLOSED"
    _debit(api, account, "inv-2", 10)  # still below: a closed incident does not reopen
    assert len(alerts_api.get_incidents().data) == 1
    changed = alerts_api.update_alert(
        alert.id, UpdateAlertRequest(parameters={"threshold": {"amount": "50"}})
    )
    assert changed.version == 2 and changed.parameters == {"threshold": {"amount": "50"}}
    # 60 is above the new line: the state is released; the next crossing opens a new one.
    _debit(api, account, "inv-3", 15)  # 45
    incidents = alerts_api.get_incidents().data
    assert [i.status for i in incidents] == ["CLOSED", "OPEN"]
    assert incidents[1].alert_version == 2


def test_crossing_opens_back_above_resolves_then_a_new_crossing(api: httpx.Client) -> None:
    account = new_account(api)
    grant(api, account, 100)
    alert = ok_json(api.post("/alerts", json=_balance_alert(account, "50")))
    _debit(api, account, "a", 60)  # 40
    _debit(api, account, "b", 5)  # 35: no second incident
    grant(api, account, 20)  # 55: resolved
    _debit(api, account, "c", 10)  # 45: a new one
    found = ok_json(api.get("/incidents", params={"alertId": alert["id"]}))["data"]
    assert [i["status"] for i in found] == ["RESOLVED", "OPEN"]
    resolved = ok_json(api.get(f"/incidents/{found[0]['id']}"))
    assert resolved["updatedAt"] >= resolved["createdAt"]
    assert ok_json(api.get("/incidents", params={"status": "OPEN"}))["data"] == [found[1]]


def test_an_alert_already_true_opens_at_once_and_org_wide_opens_per_account(
    api: httpx.Client,
) -> None:
    low, rich = new_account(api), new_account(api)
    grant(api, low, 10)
    grant(api, rich, 1000)
    alert = ok_json(api.post("/alerts", json=_balance_alert(None, "100")))
    assert "entityDetails" not in alert or alert["entityDetails"] == {}
    found = ok_json(api.get("/incidents", params={"alertId": alert["id"]}))["data"]
    assert [i["reportData"]["account"]["id"] for i in found] == [low]
    _debit(api, rich, "r", 950)
    found = ok_json(api.get("/incidents", params={"alertId": alert["id"]}))["data"]
    assert sorted(i["reportData"]["account"]["id"] for i in found) == sorted([low, rich])


def test_an_inactive_alert_never_fires_until_activated(api: httpx.Client) -> None:
    account = new_account(api)
    alert = ok_json(api.post("/alerts", json=_balance_alert(account, "100", "INACTIVE")))
    grant(api, account, 10)
    assert ok_json(api.get("/incidents", params={"alertId": alert["id"]}))["data"] == []
    active = ok_json(api.patch(f"/alerts/{alert['id']}", json={"status": "ACTIVE"}))
    assert active["version"] == 2 and active["status"] == "ACTIVE"
    [opened] = ok_json(api.get("/incidents", params={"alertId": alert["id"]}))["data"]
    assert opened["status"] == "OPEN"
    same = ok_json(api.patch(f"/alerts/{alert['id']}", json={"status": "ACTIVE"}))
    assert same["version"] == 2  # no change, no new version


def test_credit_expiring_fires_once_per_credit(api: httpx.Client, clock: Server) -> None:
    clock.set_clock(NOW)
    account = new_account(api)
    soon = grant(api, account, 30, effectiveFrom="2030-03-01", effectiveUntil="2030-03-14")
    grant(api, account, 30, effectiveFrom="2030-03-01", effectiveUntil="2030-06-30")
    alert = ok_json(
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
    assert alert["parameters"] == {"window": {"days": 7}}
    # Already within the window when the alert is made: it fires then, and only once.
    found = ok_json(api.get("/incidents", params={"alertId": alert["id"]}))["data"]
    assert [i["reportData"]["credit"]["id"] for i in found] == [soon["id"]]
    assert found[0]["reportData"]["credit"]["remainder"] == "30"
    _debit(api, account, "x", 1)
    clock.set_clock("2030-06-25T00:00:00Z")  # the other credit enters its window
    _debit(api, account, "y", 1)
    found = ok_json(api.get("/incidents", params={"alertId": alert["id"]}))["data"]
    assert len(found) == 2 and found[1]["reportData"]["credit"]["effectiveUntil"] == "2030-06-30"


def test_bad_alert_input_is_a_400_that_says_what_to_fix(api: httpx.Client) -> None:
    account = new_account(api)
    cases = [
        ({**_balance_alert(account, "1"), "alertTemplateId": "nope"}, "alertTemplateId"),
        (_balance_alert(account, "-5"), "threshold"),
        (_balance_alert(account, "abc"), "threshold"),
        ({**_balance_alert(account, "1"), "parameters": {}}, "threshold"),
        (_balance_alert("no-such-account", "1"), "account"),
        ({**_balance_alert(account, "1"), "status": "ON"}, "status"),
        ({**_balance_alert(account, "1"), "interval": "60"}, "interval"),
        (
            {
                "alertTemplateId": "feature_balance_below",
                "interval": 1,
                "status": "ACTIVE",
                "parameters": {"threshold": {"amount": "1"}},
            },
            "feature",
        ),
        (
            {
                "alertTemplateId": "credit_expiring",
                "interval": 1,
                "status": "ACTIVE",
                "parameters": {"window": {"days": 0}},
            },
            "window",
        ),
    ]
    for body, word in cases:
        assert word in error_message(api.post("/alerts", json=body), 400), body
    assert ok_json(api.get("/alerts"))["data"] == []
    assert api.get("/alerts/alert.none").status_code == 404
    assert api.get("/incidents/inc.none").status_code == 404
    assert api.get("/alert_templates/none").status_code == 404
    r = api.put("/incidents/inc.none/status", json={"status": "OPEN"})
    assert r.status_code == 400


def test_tenants_never_see_each_others_alerts(server: Server, api: httpx.Client) -> None:
    account = new_account(api)
    alert = ok_json(api.post("/alerts", json=_balance_alert(account, "10")))
    [incident] = ok_json(api.get("/incidents"))["data"]
    with server.client() as other:
        assert ok_json(other.get("/alerts"))["data"] == []
        assert ok_json(other.get("/incidents"))["data"] == []
        assert other.get(f"/alerts/{alert['id']}").status_code == 404
        assert other.get(f"/incidents/{incident['id']}").status_code == 404
        assert other.get("/webhook_endpoints").json()["data"] == []


@pytest.fixture
def guarded(server: Server, tmp_path: Path) -> Iterator[httpx.Client]:
    """A server on the same database without GRANTLEDGER_WEBHOOK_ALLOW_PRIVATE."""
    strict = notify_server(server.database_url, tmp_path, GRANTLEDGER_WEBHOOK_ALLOW_PRIVATE="0")
    try:
        with strict.client() as client:
            yield client
    finally:
        strict.stop()


def test_webhook_urls_to_private_addresses_are_refused(guarded: httpx.Client) -> None:
    api = guarded
    for url in (
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",  # refused after DNS resolution
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "ftp://example.com/hook",
        "not a url",
        "http://user:pw@example.com/hook",
    ):
        r = api.post("/webhook_endpoints", json={"url": url})
        assert r.status_code == 400, (url, r.text)
        assert "url" in r.json()["message"]
    r = api.post("/webhook_endpoints", json={"url": "http://127.0.0.1/", "eventTypes": ["x"]})
    assert r.status_code == 400
    assert ok_json(api.get("/webhook_endpoints"))["data"] == []


def test_auto_topup_settings_and_bad_input(api: httpx.Client) -> None:
    account = new_account(api)
    path = f"/accounts/{account}/auto_topup"
    assert api.get(path).status_code == 404
    for body in (
        {"thresholdAmount": 10, "topupAmount": 0, "maxPerMonth": 1},
        {"thresholdAmount": -1, "topupAmount": 5, "maxPerMonth": 1},
        {"thresholdAmount": 10, "topupAmount": 5, "maxPerMonth": 0},
        {"thresholdAmount": 10, "topupAmount": 5},
        {"thresholdAmount": "10", "topupAmount": 5, "maxPerMonth": 1},
    ):
        assert api.put(path, json=body).status_code == 400, body
    assert (
        api.put(
            "/accounts/none/auto_topup",
            json={"thresholdAmount": 10, "topupAmount": 5, "maxPerMonth": 1},
        ).status_code
        == 404
    )
    saved = ok_json(
        api.put(
            path,
            json={"thresholdAmount": 10, "topupAmount": 25, "maxPerMonth": 1, "effectiveDays": 30},
        )
    )
    assert saved["topupsThisMonth"] == 0 and saved["effectiveDays"] == 30
    grant(api, account, 20)
    _debit(api, account, "d1", 15)  # 5: topped up to 30
    _debit(api, account, "d2", 25)  # 5 again: a second crossing, but the month's one is used
    assert ok_json(api.get(f"/accounts/{account}/credit_balance"))["runningBalance"] == 5
    assert ok_json(api.get(path))["topupsThisMonth"] == 1
    assert ok_json(api.delete(path)) == {"success": True}
    assert api.delete(path).status_code == 404
