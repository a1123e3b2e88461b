"""Auto top-up: when a write takes the account's runningBalance below the threshold, the same
transaction grants the top-up — once per crossing, at most `maxPerMonth` a calendar month."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from grantledger.domain import alerts as rules
from grantledger.domain import credits as credit_rules
from grantledger.domain.errors import InvalidInput, NotFound
from grantledger.domain.journal import JournalKind
from grantledger.service.context import Tenant
from grantledger.service.fingerprint import fingerprint
from grantledger.store.credits import credits as credit_store
from grantledger.store.credits.credit_transactions import TransactionRecord, insert_transactions
from grantledger.store.credits.credits import CreditRecord
from grantledger.store.notifications import auto_topups as store
from grantledger.store.notifications.auto_topups import TopupRecord
from grantledger.store.parties import parties
from grantledger.store.tx import Tx

PURPOSE = "Auto top-up"


@dataclass(frozen=True)
class TopupSetting:
    threshold_amount: Decimal
    topup_amount: Decimal
    max_per_month: int
    effective_days: int | None = None
    priority: int = 1
    cost_basis: Decimal | None = None  # per unit of the credits it grants; None: not known


async def after_change(
    tenant: Tenant, tx: Tx, account_id: str, records: Sequence[CreditRecord], now: datetime
) -> CreditRecord | None:
    """Grant the top-up if this write crossed the line; the credit granted, or None."""
    setting = await store.get_topup(tx, account_id)
    if setting is None or not setting.live:
        return None
    running = credit_rules.balance([r.ledger for r in records], now.date()).running_balance
    plan = rules.judge_topup(
        running,
        setting.threshold_amount,
        setting.below,
        setting.month,
        setting.month_count,
        setting.max_per_month,
        now,
    )
    granted = None
    crossings = setting.crossings + (1 if plan.below and not setting.below else 0)
    below = plan.below
    if plan.grant:
        # Past any key already taken (a counter reset before 0009 kept rows, a caller's key
        # from before the namespace was reserved): the counter only ever moves forward.
        crossings = await _free_number(tx, account_id, crossings)
        granted = await _grant(tenant, tx, account_id, setting, crossings, now)
        below = running + setting.topup_amount < setting.threshold_amount
    changed = replace(
        setting,
        below=below,
        crossings=crossings,
        month=plan.month,
        month_count=plan.month_count,
        updated_at=now,
    )
    if changed != replace(setting, updated_at=now):
        await store.save_topup(tx, changed, new=False)
    return granted


_PROBE = 64  # keys looked up per query while stepping past taken ones


async def _free_number(tx: Tx, account_id: str, start: int) -> int:
    """The first top-up number from `start` whose key no credit of the organization holds."""
    while True:
        numbers = range(start, start + _PROBE)
        keys = [rules.topup_key(account_id, n) for n in numbers]
        taken = await credit_store.credits_by_idempotency_key(tx, keys)
        free = next((n for n, key in zip(numbers, keys, strict=True) if key not in taken), None)
        if free is not None:
            return free
        start += _PROBE


async def _grant(
    tenant: Tenant, tx: Tx, account_id: str, setting: TopupRecord, crossing: int, now: datetime
) -> CreditRecord:
    account = await parties.get_account(tx, account_id)
    assert account is not None
    today = now.date()
    until = today + timedelta(days=setting.effective_days - 1) if setting.effective_days else None
    # Derived from the crossing: the unique idempotency key stops a second grant for it.
    key = rules.topup_key(account_id, crossing)
    ledger, credited = credit_rules.grant(
        tenant.new_id("cred", now), setting.topup_amount, setting.priority, today, until, now
    )
    record = CreditRecord.granted(
        ledger,
        tenant.org_id,
        account_id,
        account.customer_id,
        account.invoice_currency,
        PURPOSE,
        grantor_id=None,
        idempotency_key=key,
        request_hash=fingerprint({"autoTopup": key, "amount": setting.topup_amount}),
        cost_basis=setting.cost_basis,
    )
    await credit_store.insert_credit(tx, record)
    await insert_transactions(
        tx,
        [TransactionRecord.of(tenant.new_id("ctxn", now), record.id, credited, now)],
        kind=JournalKind.AUTO_TOP_UP,
    )
    return record


async def put(tenant: Tenant, account_id: str, setting: TopupSetting) -> TopupRecord:
    if setting.topup_amount <= 0:
        raise InvalidInput("topupAmount must be more than 0")
    if setting.threshold_amount < 0:
        raise InvalidInput("thresholdAmount must not be negative")

    async def work(tx: Tx) -> TopupRecord:
        if await parties.get_account(tx, account_id, lock=True) is None:
            raise NotFound(f"account {account_id} not found")
        now = tenant.now()
        # A deleted setting is brought back with its counters: the crossing count its keys are
        # numbered by, and the month's top-ups (deleting and putting back must not reset the
        # monthly cap). Its creation is the new setting's.
        prior = await store.get_topup(tx, account_id)
        revived = prior if prior is not None and prior.live else None
        record = TopupRecord(
            account_id=account_id,
            threshold_amount=setting.threshold_amount,
            topup_amount=setting.topup_amount,
            effective_days=setting.effective_days,
            priority=setting.priority,
            max_per_month=setting.max_per_month,
            # Not below yet: the next write that leaves the balance under the line tops up.
            below=False,
            crossings=prior.crossings if prior else 0,
            month=prior.month if prior else now.strftime("%Y-%m"),
            month_count=prior.month_count if prior else 0,
            created_at=revived.created_at if revived else now,
            updated_at=now,
            deleted_at=None,
            cost_basis=setting.cost_basis,
        )
        await store.save_topup(tx, record, new=prior is None)
        return record

    return await tenant.run(work)


async def get(tenant: Tenant, account_id: str) -> TopupRecord:
    async def work(tx: Tx) -> TopupRecord:
        if await parties.get_account(tx, account_id) is None:
            raise NotFound(f"account {account_id} not found")
        found = await store.get_topup(tx, account_id)
        if found is None or not found.live:
            raise NotFound(f"account {account_id} has no auto top-up")
        return found

    return await tenant.run(work)


async def delete(tenant: Tenant, account_id: str) -> None:
    async def work(tx: Tx) -> None:
        if await parties.get_account(tx, account_id, lock=True) is None:
            raise NotFound(f"account {account_id} not found")
        # Kept, marked deleted: a later PUT resumes its counters (see `put`).
        if not await store.delete_topup(tx, account_id, tenant.now()):
            raise NotFound(f"account {account_id} has no auto top-up")

    await tenant.run(work)
