"""Alerts (Togai's Alerts API): create, read, change; incidents: read and close."""

from __future__ import annotations

from dataclasses import dataclass, replace

from grantledger.domain import alerts as rules
from grantledger.domain.alerts import AlertStatus, Condition, IncidentStatus
from grantledger.domain.errors import Conflict, InvalidInput, NotFound
from grantledger.domain.passthrough import JsonObject
from grantledger.service.context import Tenant
from grantledger.service.notifications import notify
from grantledger.store.entitlements import features
from grantledger.store.notifications import alerts as store
from grantledger.store.notifications.alerts import AlertRecord, IncidentRecord
from grantledger.store.paging import Page
from grantledger.store.parties import parties
from grantledger.store.tx import Tx


@dataclass(frozen=True)
class AlertInput:
    template_id: str
    interval: int
    status: AlertStatus
    validity: int | None = None
    description: str | None = None
    entity_details: JsonObject | None = None
    owner_details: JsonObject | None = None
    parameters: JsonObject | None = None


@dataclass(frozen=True)
class AlertChange:
    description: str | None = None
    status: AlertStatus | None = None
    interval: int | None = None
    validity: int | None = None
    parameters: JsonObject | None = None


def condition_of(record: AlertRecord) -> Condition:
    return Condition(record.account_id, record.feature_id, record.threshold, record.window_days)


async def _check_subjects(tx: Tx, condition: Condition) -> None:
    account = condition.account_id
    if account is not None:
        # Share-locked: a deletion of the account waits for this alert (and is then refused
        # while it is ACTIVE), or this finds the account gone.
        await parties.share_lock_account(tx, account)
        if await parties.get_account(tx, account) is None:
            raise InvalidInput(f"entityDetails.account: account {account} not found")
    feature = condition.feature_id
    if feature is not None and await features.get_feature(tx, feature) is None:
        raise InvalidInput(f"entityDetails.feature: feature {feature} not found")


async def create(tenant: Tenant, given: AlertInput) -> AlertRecord:
    condition = rules.parse_condition(given.template_id, given.entity_details, given.parameters)

    async def work(tx: Tx) -> AlertRecord:
        await _check_subjects(tx, condition)
        now = tenant.now()
        record = AlertRecord(
            id=tenant.new_id("alert", now),
            template_id=given.template_id,
            version=1,
            description=given.description,
            status=given.status,
            interval=given.interval,
            validity=given.validity,
            account_id=condition.account_id,
            feature_id=condition.feature_id,
            threshold=condition.threshold,
            window_days=condition.window_days,
            owner_details=given.owner_details,
            created_at=now,
            updated_at=now,
        )
        await store.insert_alert(tx, record)
        if record.status == AlertStatus.ACTIVE:
            await notify.evaluate_alert(tenant, tx, record)
        return record

    created = await tenant.run(work)
    await _judge_everywhere(tenant, created)
    return created


async def _judge_everywhere(tenant: Tenant, alert: AlertRecord) -> None:
    # After the alert's own transaction: an organization-wide alert is judged over its accounts
    # in transactions of bounded work (notify.evaluate_everywhere), never in one.
    if alert.status == AlertStatus.ACTIVE and alert.account_id is None:
        await notify.evaluate_everywhere(tenant, alert)


async def change(tenant: Tenant, alert_id: str, given: AlertChange) -> AlertRecord:
    async def work(tx: Tx) -> tuple[AlertRecord, bool]:
        found = await store.get_alert(tx, alert_id, lock=True)
        if found is None:
            raise NotFound(f"alert {alert_id} not found")
        condition = condition_of(found)
        if given.parameters is not None:
            fresh = rules.parse_condition(
                found.template_id, rules.wire_entity_details(condition), given.parameters
            )
            condition = replace(condition, threshold=fresh.threshold, window_days=fresh.window_days)
        changed = replace(
            found,
            description=given.description if given.description is not None else found.description,
            status=given.status or found.status,
            interval=given.interval if given.interval is not None else found.interval,
            validity=given.validity if given.validity is not None else found.validity,
            threshold=condition.threshold,
            window_days=condition.window_days,
        )
        if changed == found:
            return found, False
        changed = replace(changed, version=found.version + 1, updated_at=tenant.now())
        if changed.status == AlertStatus.ACTIVE and found.status != AlertStatus.ACTIVE:
            # Its account may have been deleted while it was INACTIVE (docs/api.md §2).
            await _check_subjects(tx, condition)
        await store.update_alert(tx, changed)
        if changed.status == AlertStatus.ACTIVE:
            await notify.evaluate_alert(tenant, tx, changed)
        return changed, True

    result, did_change = await tenant.run(work)
    if did_change:
        await _judge_everywhere(tenant, result)
    return result


async def get(tenant: Tenant, alert_id: str) -> AlertRecord:
    async def work(tx: Tx) -> AlertRecord:
        found = await store.get_alert(tx, alert_id)
        if found is None:
            raise NotFound(f"alert {alert_id} not found")
        return found

    return await tenant.run(work)


async def list_alerts(tenant: Tenant, after: str | None, limit: int) -> Page[AlertRecord]:
    async def work(tx: Tx) -> Page[AlertRecord]:
        return await store.list_alerts(tx, after, limit)

    return await tenant.read_behind(work)


async def get_incident(tenant: Tenant, incident_id: str) -> IncidentRecord:
    async def work(tx: Tx) -> IncidentRecord:
        found = await store.get_incident(tx, incident_id)
        if found is None:
            raise NotFound(f"incident {incident_id} not found")
        return found

    return await tenant.run(work)


async def list_incidents(
    tenant: Tenant, after: str | None, limit: int, *, alert_id: str | None, status: str | None
) -> Page[IncidentRecord]:
    if status is not None and status not in IncidentStatus.__members__:
        raise InvalidInput(f"status must be one of {', '.join(IncidentStatus.__members__)}")

    async def work(tx: Tx) -> Page[IncidentRecord]:
        return await store.list_incidents(tx, after, limit, alert_id=alert_id, status=status)

    return await tenant.read_behind(work)


async def close_incident(tenant: Tenant, incident_id: str) -> IncidentRecord:
    """CLOSED by the caller. The line stays taken until the balance is back above it, so a
    closed incident does not reopen on the next draw below the line."""

    async def work(tx: Tx) -> IncidentRecord:
        found = await store.get_incident(tx, incident_id, lock=True)
        if found is None:
            raise NotFound(f"incident {incident_id} not found")
        if found.status == IncidentStatus.CLOSED:
            return found
        if found.status != IncidentStatus.OPEN:
            raise Conflict(f"incident {incident_id} is {found.status} and cannot be closed")
        closed = await store.set_incident_status(
            tx, incident_id, IncidentStatus.CLOSED, tenant.now()
        )
        assert closed is not None
        return closed

    return await tenant.run(work)
