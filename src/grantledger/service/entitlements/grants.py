"""Entries an account is given outright: purchases of PURCHASE plans and direct grants.

(Cycle entries of BILLING plans are made in `cycles`; plan schedules in `schedules`.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from grantledger.domain.days import midnight
from grantledger.domain.entitlements import (
    Entry,
    EntrySource,
    PlanType,
    drawable,
    purchase_entry_id,
)
from grantledger.domain.errors import InvalidInput, NotFound
from grantledger.domain.journal import JournalKind
from grantledger.domain.plans import PurchaseGrant, purchase_grants
from grantledger.service.context import Tenant
from grantledger.service.credits.credits import lock_account
from grantledger.service.fingerprint import fingerprint
from grantledger.service.idempotency import replay_of
from grantledger.service.notifications import notify
from grantledger.store.entitlements import entries, features, plans, purchases
from grantledger.store.entitlements.entries import EntryRecord
from grantledger.store.entitlements.plans import PlanRecord
from grantledger.store.entitlements.purchases import PurchaseRecord
from grantledger.store.paging import Page
from grantledger.store.parties import parties
from grantledger.store.tx import Tx


@dataclass(frozen=True)
class PurchaseInput:
    plan_id: str
    quantities: dict[str, Decimal] | None  # None: every feature the plan sells, at 1
    idempotency_key: str | None
    effective_from: date | None
    effective_until: date | None
    quantity: int | None = None
    type: str | None = None
    expiry_date: datetime | None = None
    options: str | None = None  # JSON text of fields stored and echoed only
    # What the customer paid per unit of the entries (0: free); None: not known.
    cost_basis: Decimal | None = None

    def fingerprint(self) -> str:
        # Hashed only when given: keys used before it existed still match their replays.
        basis = {} if self.cost_basis is None else {"costBasis": self.cost_basis}
        return fingerprint(
            {
                **basis,
                "planId": self.plan_id,
                "quantities": self.quantities,
                "from": self.effective_from,
                "until": self.effective_until,
                "quantity": self.quantity,
                "type": self.type,
                "expiry": self.expiry_date,
                "options": self.options,
            }
        )


@dataclass(frozen=True)
class PurchasedFeature:
    """One feature a purchase granted: its entry as it stands, the feature's name, and what
    can still be drawn from it (nothing once voided or ended)."""

    name: str
    entry: EntryRecord
    available: Decimal


async def purchase(tenant: Tenant, account_id: str, spec: PurchaseInput) -> PurchaseRecord:
    """Buy a PURCHASE plan: one `purchase.…#n$PURCHASE` entry per feature bought."""
    if spec.type not in (None, "ENTITLEMENT_GRANT"):
        # Wallets, associations and prepaid purchases are not part of this product: accepting
        # one as an entitlement grant would give something other than what was asked.
        raise InvalidInput(
            f"purchase type {spec.type} is not supported; only ENTITLEMENT_GRANT purchases are"
        )
    if spec.quantities is not None and not spec.quantities:
        raise InvalidInput("rateCardQuantities must name at least one feature")
    if spec.effective_from and spec.effective_until and spec.effective_until <= spec.effective_from:
        raise InvalidInput("effectiveUntil must be after effectiveFrom")
    digest = spec.fingerprint()

    async def work(tx: Tx) -> PurchaseRecord:
        await lock_account(tx, account_id)
        # A key reused for another account is a different request, whatever the fingerprint.
        prior = await replay_of(
            spec.idempotency_key,
            lambda key: purchases.purchase_by_key(tx, key),
            f"{account_id}:{digest}",
            lambda p: (
                f"idempotencyKey {p.idempotency_key} was already used for a different "
                f"purchase ({p.id})"
            ),
            fingerprint_of=lambda p: f"{p.account_id}:{p.request_hash}",
        )
        if prior is not None:
            return prior
        plan = await _purchase_plan(tx, spec.plan_id)
        now = tenant.now()
        bought = PurchaseRecord(
            id=tenant.new_id("purchase", now),
            account_id=account_id,
            plan_id=spec.plan_id,
            rate_card_quantities=dict(spec.quantities) if spec.quantities else None,
            idempotency_key=spec.idempotency_key,
            request_hash=digest,
            effective_from=spec.effective_from,
            effective_until=spec.effective_until,
            created_at=now,
            quantity=spec.quantity,
            type=spec.type,
            expiry_date=spec.expiry_date,
            options=spec.options,
        )
        begins = midnight(spec.effective_from) if spec.effective_from else now
        granted = purchase_grants(
            spec.plan_id,
            plan.features,
            spec.quantities,
            spec.quantity or 1,
            begins,
            spec.effective_until,
            spec.expiry_date,
        )
        await purchases.insert_purchase(tx, bought)
        records = [_purchased_entry(tenant, bought, g, now) for g in granted]
        await entries.insert_entries(
            tx,
            records,
            ignore_existing=False,
            kind=JournalKind.PURCHASE,
            cost_basis=spec.cost_basis,
        )
        pairs = {(account_id, r.feature_id) for r in records}
        await notify.after_change(tenant, tx, features=pairs)
        return bought

    return await tenant.run(work)


async def _purchase_plan(tx: Tx, plan_id: str) -> PlanRecord:
    plan = await plans.get_plan(tx, plan_id)
    if plan is None:
        raise NotFound(f"entitlement plan {plan_id} not found")
    if plan.type is not PlanType.PURCHASE:
        raise InvalidInput(f"plan {plan_id} is a BILLING plan; assign it instead")
    return plan


def _purchased_entry(
    tenant: Tenant, bought: PurchaseRecord, grant: PurchaseGrant, now: datetime
) -> EntryRecord:
    entry = Entry(
        id=purchase_entry_id(bought.id, grant.index),
        source=EntrySource.ENTITLEMENT,
        effective_from=grant.effective_from,
        effective_until=grant.effective_until,
        granted=grant.granted,
    ).checked()
    row_key = tenant.new_id("fce", now)
    return EntryRecord.new(entry, bought.account_id, grant.feature_id, row_key, now)


async def get_purchase(
    tenant: Tenant, purchase_id: str
) -> tuple[PurchaseRecord, list[PurchasedFeature]]:
    """A purchase and, per feature it granted, that entry as it stands now."""

    async def work(tx: Tx) -> tuple[PurchaseRecord, list[PurchasedFeature]]:
        found = await purchases.get_purchase(tx, purchase_id)
        if found is None:
            raise NotFound(f"purchase {purchase_id} not found")
        granted: list[PurchasedFeature] = []
        now = tenant.now()
        for record in await entries.account_entries(tx, found.account_id):
            if not record.entry.id.startswith(found.id + "#"):
                continue
            feature = await features.get_feature(tx, record.feature_id)
            name = feature.name if feature is not None else record.feature_id
            granted.append(PurchasedFeature(name, record, drawable(record.entry, now)))
        # In the plan's order: entry ids end in `#<index in the plan>$PURCHASE`.
        granted.sort(key=lambda g: int(g.entry.entry.id.rsplit("#", 1)[1].split("$", 1)[0]))
        return found, granted

    return await tenant.run(work)


async def list_purchases(
    tenant: Tenant, account_id: str, after: str | None, limit: int
) -> Page[PurchaseRecord]:
    async def work(tx: Tx) -> Page[PurchaseRecord]:
        if await parties.get_account(tx, account_id) is None:
            raise NotFound(f"account {account_id} not found")
        return await purchases.account_purchases(tx, account_id, after, limit)

    return await tenant.read_behind(work)


@dataclass(frozen=True)
class GrantInput:
    granted: Decimal
    source: EntrySource
    effective_from: datetime | None
    effective_until: datetime | None
    idempotency_key: str | None
    cost_basis: Decimal | None = None  # per unit, in the account's currency; None: not known

    def fingerprint(self, account_id: str, feature_id: str) -> str:
        # Hashed only when given: keys used before it existed still match their replays.
        basis = {} if self.cost_basis is None else {"costBasis": self.cost_basis}
        return fingerprint(
            {
                **basis,
                "account": account_id,
                "feature": feature_id,
                "granted": self.granted,
                "source": self.source.value,
                "from": self.effective_from,
                "until": self.effective_until,
            }
        )


async def grant_entry(
    tenant: Tenant, account_id: str, feature_id: str, spec: GrantInput
) -> EntryRecord:
    """A direct grant of feature credits (goodwill top-up, REFUND, extra OVERAGE)."""
    if spec.source is EntrySource.PRICE_PLAN:
        raise InvalidInput("PRICE_PLAN entries come from plan schedules; use ENTITLEMENT or REFUND")
    digest = spec.fingerprint(account_id, feature_id)

    async def work(tx: Tx) -> EntryRecord:
        # Share-locked (direct grants of one account need not queue behind each other): a
        # deletion of the account waits and then sees this entry, or this finds it gone.
        await parties.share_lock_account(tx, account_id)
        if await parties.get_account(tx, account_id) is None:
            raise NotFound(f"account {account_id} not found")
        if await features.get_feature(tx, feature_id) is None:
            raise NotFound(f"feature {feature_id} not found")
        prior = await replay_of(
            spec.idempotency_key,
            lambda key: entries.entry_by_key(tx, key),
            digest,
            lambda p: (
                f"idempotencyKey {p.idempotency_key} was already used for a different "
                f"grant ({p.entry.id})"
            ),
        )
        if prior is not None:
            return prior
        now = tenant.now()
        begins = spec.effective_from or now
        if spec.effective_until is not None and spec.effective_until <= begins:
            raise InvalidInput("effectiveUntil must be after effectiveFrom")
        entry = Entry(
            id=tenant.new_id("entry", now),
            source=spec.source,
            effective_from=begins,
            effective_until=spec.effective_until,
            granted=spec.granted,
        ).checked()
        record = EntryRecord.new(
            entry,
            account_id,
            feature_id,
            tenant.new_id("fce", now),
            now,
            idempotency_key=spec.idempotency_key,
            request_hash=digest,
        )
        await entries.insert_entries(
            tx,
            [record],
            ignore_existing=False,
            kind=JournalKind.ENTRY_GRANT,
            cost_basis=spec.cost_basis,
        )
        await notify.after_change(tenant, tx, features=[(account_id, feature_id)])
        return record

    return await tenant.run(work)
