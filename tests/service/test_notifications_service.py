"""Alerts and auto top-up, judged in the transaction of the write that crosses the line, run
as use cases in-process (delivery and the wire are the API tier's)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

from grantledger.domain.alerts import AlertStatus
from grantledger.domain.credits import Line
from grantledger.domain.holds import HoldKind
from grantledger.service.context import Tenant
from grantledger.service.credits import credits, holds
from grantledger.service.notifications import alerts, topup
from grantledger.service.operations.verify import verify_ledger
from grantledger.service.parties import parties

Run = Callable[[Any], Any]


async def _funded(tenant: Tenant, amount: str) -> None:
    await parties.create_customer(
        tenant,
        parties.NewCustomer("cust", "C", "c@example.test", {}, None),
        parties.NewAccount("acc", "A", "USD", "ACTIVE", {}),
    )
    grant = credits.GrantRequest("acc", "p", date(2026, 3, 1), None, Decimal(amount), 1)
    await credits.grant(tenant, [grant])


async def _spend(tenant: Tenant, invoice: str, amount: str) -> None:
    line = Line("api", None, Decimal(amount))
    await holds.place(tenant, holds.HoldPlacement("acc", invoice, (line,), HoldKind.DEBIT))


async def _incidents(tenant: Tenant) -> list[str]:
    page = await alerts.list_incidents(tenant, None, 50, alert_id=None, status=None)
    return [i.status for i in page.items]


def test_a_crossing_opens_one_incident_and_coming_back_resolves_it(run: Run) -> None:
    async def scenario(tenant: Tenant) -> None:
        await _funded(tenant, "100")
        await alerts.create(
            tenant,
            alerts.AlertInput(
                "credit_balance_below",
                60,
                AlertStatus.ACTIVE,
                entity_details={"account": {"id": "acc"}},
                parameters={"threshold": {"amount": "50"}},
            ),
        )
        await _spend(tenant, "inv-1", "60")
        await _spend(tenant, "inv-2", "1")  # still below: no second incident
        assert await _incidents(tenant) == ["OPEN"]
        grant = credits.GrantRequest("acc", "p", date(2026, 3, 1), None, Decimal(20), 1)
        await credits.grant(tenant, [grant])
        assert await _incidents(tenant) == ["RESOLVED"]

    run(scenario)


def test_auto_top_up_grants_once_per_crossing(run: Run) -> None:
    async def scenario(tenant: Tenant) -> None:
        await _funded(tenant, "100")
        setting = topup.TopupSetting(Decimal(50), Decimal(100), max_per_month=5)
        await topup.put(tenant, "acc", setting)
        await _spend(tenant, "inv-1", "60")  # 40 < 50: one top-up of 100
        await _spend(tenant, "inv-2", "5")  # 135: above, nothing
        balance = await credits.account_balance(tenant, "acc", None)
        assert balance.figures.running_balance == Decimal(135)
        page = await credits.list_credits(
            tenant, status=None, account_id="acc", credit_id=None, after=None, limit=50
        )
        assert sorted(c.purpose for c in page.items) == ["Auto top-up", "p"]
        assert (await verify_ledger(tenant.ctx))[2] == []

    run(scenario)
