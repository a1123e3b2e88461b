"""Credits and holds, run as use cases in-process (the API tier covers their wire)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from grantledger.domain.credits import Line
from grantledger.domain.entitlements import EntrySource, ValueType
from grantledger.domain.errors import Conflict
from grantledger.domain.holds import HoldKind, HoldStatus
from grantledger.service.context import Tenant
from grantledger.service.credits import credits, holds
from grantledger.service.entitlements import catalog, grants
from grantledger.service.operations.verify import verify_ledger
from grantledger.service.parties import parties
from grantledger.store.tx import Tx
from tests.service.world import SetClock

Run = Callable[[Any], Any]


async def _account(tenant: Tenant, account_id: str = "acc") -> None:
    await parties.create_customer(
        tenant,
        parties.NewCustomer("cust", "C", "c@example.test", {}, None),
        parties.NewAccount(account_id, "A", "USD", "ACTIVE", {}),
    )


async def _all_credits(tenant: Tenant) -> list[Any]:
    page = await credits.list_credits(
        tenant, status=None, account_id="acc", credit_id=None, after=None, limit=50
    )
    return list(page.items)


def _grant(amount: str, priority: int, until: date | None = None, key: str | None = None) -> Any:
    return credits.GrantRequest(
        "acc", "p", date(2026, 3, 1), until, Decimal(amount), priority, idempotency_key=key
    )


def _debit(invoice: str, amount: str, kind: HoldKind = HoldKind.DEBIT) -> holds.HoldPlacement:
    return holds.HoldPlacement("acc", invoice, (Line("api", None, Decimal(amount)),), kind)


def test_credits_burn_down_by_priority_then_soonest_expiry(run: Run) -> None:
    async def scenario(tenant: Tenant) -> list[Decimal]:
        await _account(tenant)
        made = await credits.grant(
            tenant,
            [
                _grant("10", 2),
                _grant("10", 1),
                _grant("10", 1, until=date(2026, 6, 1)),
            ],
        )
        await holds.place(tenant, _debit("inv-1", "15"))
        after = {r.id: r for r in (await _all_credits(tenant))}
        return [after[c.id].ledger.consumed for c in made]

    # The expiring priority-1 credit first, then the other priority-1, never the priority 2.
    assert run(scenario) == [Decimal(0), Decimal(5), Decimal(10)]


def test_a_replayed_grant_makes_nothing_and_a_changed_one_conflicts(run: Run) -> None:
    async def scenario(tenant: Tenant) -> None:
        await _account(tenant)
        [first] = await credits.grant(tenant, [_grant("10", 1, key="k")])
        [again] = await credits.grant(tenant, [_grant("10", 1, key="k")])
        assert again.id == first.id
        with pytest.raises(Conflict, match="already used for a different credit"):
            await credits.grant(tenant, [_grant("11", 1, key="k")])
        assert len(await _all_credits(tenant)) == 1

    run(scenario)


def test_a_hold_reserves_then_capture_spends_and_release_returns(run: Run) -> None:
    async def scenario(tenant: Tenant) -> None:
        await _account(tenant)
        await credits.grant(tenant, [_grant("100", 1)])
        await holds.place(tenant, _debit("inv-1", "30", HoldKind.HOLD))
        held = await credits.account_balance(tenant, "acc", None)
        assert held.figures.available_balance == Decimal(100)
        assert held.figures.running_balance == Decimal(70)
        await holds.settle(tenant, "acc", "inv-1", HoldStatus.CAPTURED)
        await holds.place(tenant, _debit("inv-2", "20", HoldKind.HOLD))
        await holds.settle(tenant, "acc", "inv-2", HoldStatus.RELEASED)
        final = await credits.account_balance(tenant, "acc", None)
        assert final.figures.available_balance == Decimal(70)
        assert final.figures.running_balance == Decimal(70)
        with pytest.raises(Conflict, match="invoiceId inv-1 was already used"):
            await holds.place(tenant, _debit("inv-1", "31", HoldKind.HOLD))
        assert await verify_ledger(tenant.ctx) == (1, 0, [])

    run(scenario)


def test_a_debit_past_what_credits_cover_is_refused_and_changes_nothing(run: Run) -> None:
    async def scenario(tenant: Tenant) -> None:
        await _account(tenant)
        await credits.grant(tenant, [_grant("10", 1)])
        placement = holds.HoldPlacement(
            "acc", "inv-1", (Line("api", None, Decimal(11)),), HoldKind.DEBIT, allow_partial=False
        )
        with pytest.raises(Conflict, match="nothing was reserved"):
            await holds.place(tenant, placement)
        balance = await credits.account_balance(tenant, "acc", None)
        assert balance.figures.running_balance == Decimal(10)

    run(scenario)


def test_a_past_balance_is_the_ledger_replayed_to_that_instant(run: Run, clock: SetClock) -> None:
    async def scenario(tenant: Tenant) -> None:
        await _account(tenant)
        await credits.grant(tenant, [_grant("50", 1)])
        before = tenant.now()
        clock.advance(timedelta(hours=1))
        await holds.place(tenant, _debit("inv-1", "20"))
        then = await credits.account_balance(tenant, "acc", before)
        now = await credits.account_balance(tenant, "acc", None)
        assert then.figures.available_balance == Decimal(50)
        assert now.figures.available_balance == Decimal(30)

    run(scenario)


def test_verify_reports_rows_the_domain_would_refuse(run: Run) -> None:
    """A cache tampered past the rules (a credit overdrawn, an entry used beyond its grant) is
    a line of the report, not a crash that hides every other line."""

    async def scenario(tenant: Tenant) -> list[str]:
        await _account(tenant)
        [credit] = await credits.grant(tenant, [_grant("10", 1)])
        feature = await catalog.create_feature(
            tenant, catalog.FeatureInput("f", "F", None, [], ValueType.BOOLEAN, None)
        )
        entry = await grants.grant_entry(
            tenant,
            "acc",
            feature.id,
            grants.GrantInput(Decimal(5), EntrySource.ENTITLEMENT, None, None, None),
        )

        async def tamper(tx: Tx) -> None:
            await tx.conn.execute(
                sa.text("UPDATE credits SET consumed_amount = '11' WHERE id = :id"),
                {"id": credit.id},
            )
            await tx.conn.execute(
                sa.text("UPDATE feature_entries SET used = '6' WHERE id = :id"),
                {"id": entry.entry.id},
            )

        await tenant.run(tamper)
        return (await verify_ledger(tenant.ctx))[2]

    problems = run(scenario)
    assert any("consumedAmount is 11 on the row but 0" in p for p in problems), problems
    assert any("overdrawn by 1" in p for p in problems), problems
    assert any("used is 6 but its draws total 0" in p for p in problems), problems
    assert any("used 6 outside carried 0..granted 5" in p for p in problems), problems
