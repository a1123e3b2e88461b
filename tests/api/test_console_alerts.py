"""The console's alerts and webhooks page: incidents as the API lists them, an endpoint's
deliveries, and a retry (confirmed) that sends a message again."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.console_client import Console
from tests.helpers import grant, new_account, ok_json
from tests.notify_servers import fresh_database, notify_server
from tests.receiver import Receiver
from tests.servers import Server


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Server]:
    for url in fresh_database("sqlite", tmp_path):
        server = notify_server(url, tmp_path, GRANTLEDGER_SWEEP_INTERVAL="0")
        try:
            yield server
        finally:
            server.stop()


def _wait(check: object, seconds: float = 15) -> None:  # float-ok: seconds
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_incidents_deliveries_and_a_retry(hub: Server) -> None:
    key = hub.key()
    receiver = Receiver()
    console = Console(hub, key)
    try:
        with hub.client(key) as api:
            endpoint = ok_json(
                api.post(
                    "/webhook_endpoints",
                    json={"url": receiver.url, "eventTypes": ["credit.granted"]},
                ),
                201,
            )
            account = new_account(api)
            alert = {
                "alertTemplateId": "credit_balance_below",
                "interval": 60,
                "status": "ACTIVE",
                "entityDetails": {"account": {"id": account}},
                "parameters": {"threshold": {"amount": "100"}},
            }
            ok_json(api.post("/alerts", json=alert))
            grant(api, account, 150)
            body = {"invoiceId": "inv-1", "lines": [{"entityId": "api", "amount": 75}]}
            ok_json(api.post(f"/accounts/{account}/credit_debits", json=body))
            listed = ok_json(api.get("/incidents"))["data"]
            assert any(i["status"] == "OPEN" for i in listed)
        _wait(lambda: len(receiver.received) == 1)
        page = console.get("/console/alerts", endpoint=endpoint["id"]).text
        incidents = page.split('data-testid="incidents-table"')[1].split("</table>")[0]
        for incident in listed:
            assert incident["id"] in incidents
        assert "OPEN" in incidents
        deliveries = page.split('data-testid="deliveries-table"')[1].split("</table>")[0]
        assert "credit.granted" in deliveries and "DELIVERED" in deliveries
        message = deliveries.split('data-message="')[1].split('"')[0]
        url = "/console/alerts/retry"
        fields = {"csrf": console.csrf, "endpointId": endpoint["id"], "messageId": message}
        confirm = console.http.post(url, data=fields)
        assert confirm.status_code == 200 and 'data-testid="confirm"' in confirm.text
        done = console.http.post(url, data={**fields, "confirm": "yes"})
        assert done.status_code == 303
        _wait(lambda: len(receiver.received) == 2)
        assert "retry-delivery" not in console.get(f"/console/accounts/{account}").text
        # Without the token the retry is refused and nothing is queued.
        refused = console.http.post(url, data={**fields, "csrf": "", "confirm": "yes"})
        assert refused.status_code == 403
    finally:
        console.close()
        receiver.close()
