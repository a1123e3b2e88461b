"""Every call the console makes into the service layer, answered as the API's wire dicts.

The console shows what the API returns: each result goes through the API's own response
model (`…Out.of`) and `dump`, so a figure on a page is the JSON figure, digit for digit.
This module is the only place that knows the use cases' signatures.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from grantledger.api.schemas.alerts import IncidentOut
from grantledger.api.schemas.catalog import EventSchemaOut, FeatureListItem, PlanOut
from grantledger.api.schemas.credits import (
    CreditBalanceResponse,
    CreditOut,
    CreditTransactionOut,
    HoldOut,
)
from grantledger.api.schemas.entitlements import FeatureCreditEntryOut, ScheduleOut
from grantledger.api.schemas.events import EventOut
from grantledger.api.schemas.parties import AccountOut
from grantledger.api.schemas.webhooks import DeliveryOut, EndpointOut
from grantledger.api.wire import dump
from grantledger.domain.corrections import Action, Outcome
from grantledger.domain.entitlements import EntrySource
from grantledger.domain.errors import Conflict, NotFound
from grantledger.domain.holds import HoldStatus
from grantledger.service.context import Tenant
from grantledger.service.credits import credits, holds
from grantledger.service.credits.credits import GrantRequest
from grantledger.service.entitlements import catalog, corrections, entitlements, event_reads, grants
from grantledger.service.entitlements import schedules as schedules_service
from grantledger.service.entitlements.event_input import EventInput
from grantledger.service.entitlements.grants import GrantInput
from grantledger.service.entitlements.schedules import AssignInput
from grantledger.service.notifications import alerts, webhooks
from grantledger.service.parties import parties
from grantledger.store.entitlements.entries import EntryRecord
from grantledger.store.entitlements.event_log import EventLogRecord

Wire = dict[str, Any]


async def account(t: Tenant, account_id: str) -> Wire:
    return dump(AccountOut.of(await parties.get_account(t, account_id)))


async def balance(t: Tenant, account_id: str, as_of: datetime | None = None) -> Wire:
    found = await credits.account_balance(t, account_id, as_of)
    return dump(CreditBalanceResponse.of(found))


async def credit(t: Tenant, credit_id: str) -> tuple[Wire, list[Wire]]:
    record, transactions = await credits.credit_details(t, credit_id)
    return (
        dump(CreditOut.of(record, t.now().date())),
        [dump(CreditTransactionOut.of(x)) for x in transactions],
    )


async def grant_credit(
    t: Tenant,
    account_id: str,
    amount: Decimal,
    purpose: str,
    effective_from: date,
    effective_until: date | None,
    priority: int,
    grantor: str,
    idempotency_key: str,
) -> Wire:
    request = GrantRequest(
        account_id=account_id,
        purpose=purpose,
        effective_from=effective_from,
        effective_until=effective_until,
        credit_amount=amount,
        priority=priority,
        grantor_id=grantor,
        idempotency_key=idempotency_key,
    )
    [record] = await credits.grant(t, [request])
    return dump(CreditOut.of(record, t.now().date()))


async def void_credit(t: Tenant, credit_id: str) -> Wire:
    return dump(CreditOut.of(await credits.void(t, credit_id), t.now().date()))


async def settle_hold(t: Tenant, account_id: str, invoice_id: str, capture: bool) -> Wire:
    outcome = HoldStatus.CAPTURED if capture else HoldStatus.RELEASED
    return dump(HoldOut.of(await holds.settle(t, account_id, invoice_id, outcome)))


async def hold(t: Tenant, account_id: str, invoice_id: str) -> Wire:
    return dump(HoldOut.of(await holds.get_hold(t, account_id, invoice_id)))


async def grant_entry(
    t: Tenant,
    account_id: str,
    feature_id: str,
    granted: Decimal,
    source: EntrySource,
    effective_until: datetime | None,
    idempotency_key: str,
) -> Wire:
    spec = GrantInput(
        granted=granted,
        source=source,
        effective_from=None,
        effective_until=effective_until,
        idempotency_key=idempotency_key,
    )
    record = await grants.grant_entry(t, account_id, feature_id, spec)
    return dump(FeatureCreditEntryOut.of(record, t.now()))


async def void_entry(t: Tenant, account_id: str, feature_id: str, entry_id: str) -> Wire:
    record = await entitlements.void_entry(t, account_id, feature_id, entry_id)
    return dump(FeatureCreditEntryOut.of(record, t.now()))


async def assign_plan(
    t: Tenant, account_id: str, plan_id: str, start: date, end: date | None, idempotency_key: str
) -> Wire:
    spec = AssignInput(plan_id=plan_id, start=start, end=end, idempotency_key=idempotency_key)
    return dump(ScheduleOut.of(await schedules_service.assign_plan(t, account_id, spec)))


async def schedules(t: Tenant, account_id: str) -> list[Wire]:
    rows = await schedules_service.list_schedules(t, account_id)
    return [dump(ScheduleOut.of(r)) for r in rows]


async def feature_credits(t: Tenant, account_id: str, feature_id: str) -> Wire:
    found = await entitlements.feature_credits(t, account_id, feature_id, None)
    return {
        "granted": found.granted,
        "balance": found.balance,
        "overageLimit": found.overage_limit,
        "usedOverage": found.used_overage,
    }


async def entries(
    t: Tenant, account_id: str, feature_id: str, after: str | None, limit: int
) -> tuple[list[Wire], str | None]:
    page = await entitlements.list_entries(t, account_id, feature_id, after, limit)
    now = t.now()
    return [dump(FeatureCreditEntryOut.of(r, now)) for r in page.items], page.last_key


async def features(t: Tenant, after: str | None, limit: int) -> tuple[list[Wire], str | None]:
    page = await catalog.list_features(t, after, limit)
    return [dump(FeatureListItem.of(r)) for r in page.items], page.last_key


async def schemas(t: Tenant, after: str | None, limit: int) -> tuple[list[Wire], str | None]:
    page = await catalog.list_schemas(t, None, after, limit)
    return [dump(EventSchemaOut.of(r)) for r in page.items], page.last_key


async def plan(t: Tenant, plan_id: str) -> Wire:
    return dump(PlanOut.of(await catalog.get_plan(t, plan_id)))


async def plans(t: Tenant, after: str | None, limit: int) -> tuple[list[Wire], str | None]:
    page = await catalog.list_plans(t, after, limit)
    return [dump(PlanOut.of(r)) for r in page.items], page.last_key


async def credit_header(t: Tenant, credit_id: str) -> Wire:
    """One credit as `GET /credits` lists it (its transactions are paged separately)."""
    page = await credits.list_credits(
        t, status=None, account_id=None, credit_id=credit_id, after=None, limit=1
    )
    if not page.items:
        raise NotFound(f"credit {credit_id} not found")
    return dump(CreditOut.of(page.items[0], t.now().date()))


def entry_wire(record: EntryRecord, now: datetime) -> Wire:
    return dump(FeatureCreditEntryOut.of(record, now))


# --- usage events ------------------------------------------------------------------------------


async def events(
    t: Tenant, account_id: str, after: str | None, limit: int
) -> tuple[list[tuple[Wire, EventLogRecord]], str | None]:
    """The account's judged events, newest first, as `GET /events?account_id=` shows them,
    each beside its record (whose correction names who took it back, and when)."""
    page = await event_reads.list_events(
        t, account_id=account_id, schema_name=None, status=None, after=after, limit=limit
    )
    return [(dump(EventOut.of(r)), r) for r in page.items], page.last_key


async def event(t: Tenant, reference: str) -> EventLogRecord:
    """One judged event by its reference id (404 for an unknown or another tenant's)."""
    return await event_reads.get_event(t, reference)


async def undo_event(t: Tenant, record: EventLogRecord, grace: timedelta, actor: str) -> Wire:
    """UNDO that very judgement, as `POST /events/correction?action=UNDO` does; a FAILED
    correction (already reverted, past its grace) changed nothing and answers 409 saying why."""
    named = EventInput(
        schema_name=record.schema_name,
        id=record.event_id,
        timestamp=record.timestamp,
        account_id=record.account_id,
        attributes=[],
        payload=record.payload,
    )
    done = await corrections.correct(t, Action.UNDO, named, grace, actor=actor, reference=record.pk)
    if done.outcome is Outcome.FAILED:
        raise Conflict(done.reason)
    return dump(EventOut.of(done.event))


# --- alerts and webhooks ----------------------------------------------------------------------


async def incidents(t: Tenant, after: str | None, limit: int) -> tuple[list[Wire], str | None]:
    page = await alerts.list_incidents(t, after, limit, alert_id=None, status=None)
    return [dump(IncidentOut.of(r)) for r in page.items], page.last_key


async def endpoints(t: Tenant, after: str | None, limit: int) -> tuple[list[Wire], str | None]:
    page = await webhooks.list_endpoints(t, after, limit)
    return [dump(EndpointOut.of(r)) for r in page.items], page.last_key


async def deliveries(
    t: Tenant, endpoint_id: str, after: str | None, limit: int
) -> tuple[list[Wire], str | None]:
    page = await webhooks.deliveries(t, endpoint_id, after, limit)
    return [dump(DeliveryOut.of(m)) for m in page.items], page.last_key


async def retry_delivery(t: Tenant, endpoint_id: str, message_id: str) -> Wire:
    return dump(DeliveryOut.of(await webhooks.retry(t, endpoint_id, message_id)))
