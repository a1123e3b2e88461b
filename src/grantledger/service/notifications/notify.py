"""The one hook every ledger write calls inside its unit of work: alerts, auto top-up, events.

`after_change` judges the state the transaction has just written — never the request — so it is
safe when `Database.run` runs the work again, and racing writers meet on the keys of
`alert_states` and `notify_marks` instead of each announcing the same fact. It only writes rows
in the caller's transaction; delivery happens later, outside it (service/notifications/delivery.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncConnection

from grantledger.domain import alerts as rules
from grantledger.domain import credits as credit_rules
from grantledger.domain import entitlements as entitlement_rules
from grantledger.domain.alerts import IncidentStatus, Verdict
from grantledger.domain.credits import CreditStatus
from grantledger.domain.holds import HoldStatus
from grantledger.service.context import Context, Tenant
from grantledger.service.notifications import topup
from grantledger.service.notifications.outbox import Outbox, renderers
from grantledger.store.credits import credits as credit_store
from grantledger.store.credits.credits import CreditRecord
from grantledger.store.entitlements import entries, event_log
from grantledger.store.entitlements.feature_holds import FeatureHoldRecord
from grantledger.store.notifications import alerts as alert_store
from grantledger.store.notifications import outbox as marks
from grantledger.store.notifications.alerts import AlertRecord, IncidentRecord
from grantledger.store.parties import parties
from grantledger.store.tx import Tx

# An incident's reportData: the wire types it as an object of objects.
Report = dict[str, dict[str, str]]

# How far back a write looks for the facts it may announce (a grant, a consumption, a hold
# settled). The marks make each announced once; the window keeps old history out, and an
# endpoint receives only the facts that happened after it was made (Outbox.emit).
RECENT = timedelta(minutes=5)
_CREDIT_EVENTS = {
    CreditStatus.CONSUMED: "credit.consumed",
    CreditStatus.EXPIRED: "credit.expired",
    CreditStatus.VOIDED: "credit.voided",
}
_HOLD_EVENTS = {HoldStatus.CAPTURED: "hold.captured", HoldStatus.RELEASED: "hold.released"}


async def after_change(
    tenant: Tenant,
    tx: Tx,
    *account_ids: str,
    features: Iterable[tuple[str, str]] = (),
    watching: Sequence[AlertRecord] | None = None,
    announce: Iterable[tuple[str, str]] = (),
    holds: Iterable[tuple[str, FeatureHoldRecord]] = (),
) -> None:
    """Judge alerts and auto top-up and write the events of what this transaction changed.

    `account_ids`: accounts whose credits or holds changed (their locks are held).
    `features`: (account, feature) pairs whose entitlement balance changed.
    `watching`: the FEATURE_BALANCE_BELOW alerts of the pairs' accounts, when the caller read
    them already in this transaction (the gate reads them with its writes); else read here.
    `announce`: (event type, reference id) of judged events to announce (`usage.shortfall`,
    `event.reverted`), each once.
    `holds`: (event type, feature hold as it now stands) to announce (`feature_hold.expired`,
    `feature_hold.shortfall`), each once.
    """
    now = tenant.now()
    out = Outbox(tenant, tx, now)
    for account_id in account_ids:
        await _account_changed(tenant, tx, account_id, out, now)
    pairs = sorted(set(features))
    if pairs:
        # One read for every account of the batch (the gate changes up to 128 events' pairs);
        # each pair is then judged against the alerts watching it, in alert id order, as if
        # read for its account alone.
        if watching is None:
            watching = await alert_store.active_alerts_of(
                tx, sorted({a for a, _ in pairs}), [rules.FEATURE_BALANCE_BELOW]
            )
        for pair_account, feature_id in pairs:
            for alert in watching:
                if alert.feature_id == feature_id and alert.account_id in (None, pair_account):
                    await _judge_feature(tenant, tx, alert, pair_account, out, now)
    await _event_facts(tx, sorted(set(announce)), out)
    await _feature_hold_facts(tx, holds, out)
    await out.flush()


async def _feature_hold_facts(
    tx: Tx, facts: Iterable[tuple[str, FeatureHoldRecord]], out: Outbox
) -> None:
    render = renderers()
    for kind, hold in facts:
        if render is None or render.feature_hold is None or not await out.wants(kind):
            continue
        if await marks.mark_once(tx, kind, [hold.pk]):
            out.emit(kind, render.feature_hold(hold), hold.closed_at)


async def _event_facts(tx: Tx, facts: Sequence[tuple[str, str]], out: Outbox) -> None:
    render = renderers()
    for kind, reference in facts:
        if render is None or not await out.wants(kind):
            continue
        if not await marks.mark_once(tx, kind, [reference]):
            continue
        found = await event_log.get_event(tx, reference)
        if found is not None:
            out.emit(kind, render.event(found))


# Accounts one transaction judges for an organization-wide alert: the work of one transaction
# stays bounded (and short on SQLite's single write lock) however many accounts there are.
JUDGED_PER_TRANSACTION = 50


async def evaluate_alert(tenant: Tenant, tx: Tx, alert: AlertRecord) -> None:
    """Judge a just created or activated alert of one account, in the caller's transaction: a
    condition that already holds opens now. An organization-wide alert is judged afterwards,
    in transactions of its own (`evaluate_everywhere`)."""
    if alert.account_id is not None:
        await _judge_accounts(tenant, tx, alert, [alert.account_id])


async def evaluate_everywhere(tenant: Tenant, alert: AlertRecord) -> int:
    """Judge an organization-wide alert over every account it watches, JUDGED_PER_TRANSACTION
    accounts per transaction, in account id order; stops if the alert changes meanwhile.
    Returns the accounts judged."""
    after: str | None = None
    judged = 0
    while True:

        async def work(tx: Tx, after: str | None = after) -> list[str]:
            current = await alert_store.get_alert(tx, alert.id)
            if current is None or current.status != rules.AlertStatus.ACTIVE:
                return []
            if current.version != alert.version:
                return []  # changed since: its own change judges it again
            if alert.template_id == rules.FEATURE_BALANCE_BELOW:
                assert alert.feature_id is not None
                ids = await alert_store.feature_account_ids(
                    tx, alert.feature_id, after, JUDGED_PER_TRANSACTION
                )
            else:
                ids = await alert_store.org_account_ids(tx, after, JUDGED_PER_TRANSACTION)
            await _judge_accounts(tenant, tx, current, ids)
            return ids

        ids = await tenant.run(work)
        judged += len(ids)
        if len(ids) < JUDGED_PER_TRANSACTION:
            return judged
        after = ids[-1]


async def _judge_accounts(
    tenant: Tenant, tx: Tx, alert: AlertRecord, account_ids: Sequence[str]
) -> None:
    now = tenant.now()
    out = Outbox(tenant, tx, now)
    for account_id in account_ids:
        if alert.template_id == rules.FEATURE_BALANCE_BELOW:
            await _judge_feature(tenant, tx, alert, account_id, out, now)
        else:
            records = await credit_store.account_credits(
                tx, account_id, statuses=[CreditStatus.ACTIVE]
            )
            await _judge_credit_alerts(tenant, tx, [alert], account_id, records, out, now)
    await out.flush()


async def _account_changed(
    tenant: Tenant, tx: Tx, account_id: str, out: Outbox, now: datetime
) -> None:
    # Only ACTIVE credits count toward a balance: an account's long history is not read.
    records = await credit_store.account_credits(tx, account_id, statuses=[CreditStatus.ACTIVE])
    granted = await topup.after_change(tenant, tx, account_id, records, now)
    if granted is not None:
        records = [*records, granted]
        render = renderers()
        if await out.wants("auto_topup.granted") and render is not None:
            # Spliced as text: a JSON round trip would read the amounts as floats.
            credit = render.credit(granted, now.date())
            out.emit(
                "auto_topup.granted", f'{credit[:-1]}, "accountId": {json.dumps(account_id)}}}'
            )
    if await out.listening():
        await _credit_events(
            tx, await alert_store.recent_credits(tx, account_id, now - RECENT), out, now
        )
        await _hold_events(tx, account_id, out, now)
    alerts = await alert_store.active_alerts(
        tx, account_id, [rules.CREDIT_BALANCE_BELOW, rules.CREDIT_EXPIRING]
    )
    await _judge_credit_alerts(tenant, tx, alerts, account_id, records, out, now)


async def _credit_events(
    tx: Tx, records: Sequence[CreditRecord], out: Outbox, now: datetime
) -> None:
    render = renderers()
    assert render is not None
    since = now - RECENT
    by_kind: dict[str, list[CreditRecord]] = {}
    for r in records:
        if r.ledger.created_at >= since:
            by_kind.setdefault("credit.granted", []).append(r)
        kind = _CREDIT_EVENTS.get(r.ledger.status)
        if kind is not None and r.updated_at >= since:
            by_kind.setdefault(kind, []).append(r)
    for kind, found in sorted(by_kind.items()):
        if not await out.wants(kind):
            continue
        first = await marks.mark_once(tx, kind, [r.id for r in found])
        for r in found:
            if r.id in first:
                # A grant happened when the credit was made; the other facts at its last change.
                at = r.ledger.created_at if kind == "credit.granted" else r.updated_at
                out.emit(kind, render.credit(r, now.date()), at)


async def _hold_events(tx: Tx, account_id: str, out: Outbox, now: datetime) -> None:
    render = renderers()
    assert render is not None
    holds = await alert_store.recent_holds(tx, account_id, now - RECENT)
    if not holds:
        return
    account = await parties.get_account(tx, account_id)
    assert account is not None
    for hold in holds:
        facts = [("hold.placed", hold.created_at)]
        settled = _HOLD_EVENTS.get(hold.status)
        if settled is not None:
            facts.append((settled, hold.settled_at or now))
        for kind, at in facts:
            if await out.wants(kind) and await marks.mark_once(tx, kind, [hold.id]):
                out.emit(kind, render.hold(hold, account.invoice_currency), at)


async def _judge_credit_alerts(
    tenant: Tenant,
    tx: Tx,
    alerts: Sequence[AlertRecord],
    account_id: str,
    records: Sequence[CreditRecord],
    out: Outbox,
    now: datetime,
) -> None:
    if not alerts:
        return
    today = now.date()
    running = credit_rules.balance([r.ledger for r in records], today).running_balance
    for alert in alerts:
        if alert.template_id == rules.CREDIT_BALANCE_BELOW:
            assert alert.threshold is not None
            report = {
                "account": {"id": account_id},
                "balance": {"runningBalance": str(running), "threshold": str(alert.threshold)},
            }
            await _judge(tenant, tx, alert, account_id, running, report, out, now)
        elif alert.template_id == rules.CREDIT_EXPIRING:
            assert alert.window_days is not None
            await _judge_expiring(tenant, tx, alert, account_id, records, out, now)


async def _judge_expiring(
    tenant: Tenant,
    tx: Tx,
    alert: AlertRecord,
    account_id: str,
    records: Sequence[CreditRecord],
    out: Outbox,
    now: datetime,
) -> None:
    assert alert.window_days is not None
    today = now.date()
    expiring = [
        r
        for r in records
        if r.ledger.status_on(today) is CreditStatus.ACTIVE
        and rules.expiring_within(
            r.ledger.effective_until, r.ledger.remaining, today, alert.window_days
        )
    ]
    if not expiring:
        return
    seen = await alert_store.states(tx, [alert.id], [r.id for r in expiring])
    for r in expiring:
        if rules.judge_expiring(True, (alert.id, r.id) in seen) is not Verdict.OPEN:
            continue
        report = {
            "account": {"id": account_id},
            "credit": {
                "id": r.id,
                "remainder": str(r.ledger.remaining),
                "effectiveUntil": str(r.ledger.effective_until),
            },
        }
        await _open(tenant, tx, alert, r.id, report, out, now)


async def _judge_feature(
    tenant: Tenant, tx: Tx, alert: AlertRecord, account_id: str, out: Outbox, now: datetime
) -> None:
    assert alert.feature_id is not None and alert.threshold is not None
    held = await entries.account_entries(tx, account_id, [alert.feature_id])
    value = entitlement_rules.feature_credits([r.entry for r in held], now).balance
    report = {
        "account": {"id": account_id},
        "feature": {"id": alert.feature_id},
        "balance": {"balance": str(value), "threshold": str(alert.threshold)},
    }
    subject = f"{account_id}/{alert.feature_id}"
    await _judge(tenant, tx, alert, subject, value, report, out, now)


async def _judge(
    tenant: Tenant,
    tx: Tx,
    alert: AlertRecord,
    subject: str,
    value: Decimal,
    report: Report,
    out: Outbox,
    now: datetime,
) -> None:
    assert alert.threshold is not None
    held = (await alert_store.states(tx, [alert.id], [subject])).get((alert.id, subject))
    verdict = rules.judge_threshold(value, alert.threshold, held is not None)
    if verdict is Verdict.OPEN:
        await _open(tenant, tx, alert, subject, report, out, now)
    elif verdict is Verdict.RESOLVE and held is not None:
        await _resolve(tx, alert, subject, held, out, now)


async def _open(
    tenant: Tenant,
    tx: Tx,
    alert: AlertRecord,
    subject: str,
    report: Report,
    out: Outbox,
    now: datetime,
) -> None:
    incident_id = tenant.new_id("inc", now)
    if not await alert_store.claim_state(tx, alert.id, subject, incident_id, now):
        return  # a concurrent writer opened it: one crossing, one incident
    incident = IncidentRecord(
        id=incident_id,
        alert_id=alert.id,
        alert_version=alert.version,
        template_id=alert.template_id,
        subject_id=subject,
        status=IncidentStatus.OPEN,
        report_data=report,
        valid_until=now + timedelta(minutes=alert.validity) if alert.validity else None,
        last_checked_at=now,
        created_at=now,
        updated_at=now,
    )
    await alert_store.insert_incident(tx, incident)
    render = renderers()
    if await out.wants("incident.opened") and render is not None:
        out.emit("incident.opened", render.incident(incident))


async def _resolve(
    tx: Tx, alert: AlertRecord, subject: str, incident_id: str, out: Outbox, now: datetime
) -> None:
    if not await alert_store.release_state(tx, alert.id, subject, incident_id, now):
        return
    incident = await alert_store.get_incident(tx, incident_id, lock=True)
    if incident is None or incident.status != IncidentStatus.OPEN:
        return  # closed by hand: the line is re-armed, nothing to announce
    resolved = await alert_store.set_incident_status(tx, incident_id, IncidentStatus.RESOLVED, now)
    render = renderers()
    if resolved is not None and await out.wants("incident.resolved") and render is not None:
        out.emit("incident.resolved", render.incident(resolved))


async def sweep_expiring(ctx: Context) -> int:
    """Judge credit_expiring alerts as time passes (no write needed); returns accounts judged."""

    async def find(conn: AsyncConnection) -> list[tuple[str, str]]:
        return await alert_store.accounts_with_expiring_credits(conn, ctx.now().date())

    due = await ctx.db.run(find)
    for org_id, account_id in due:
        tenant = ctx.tenant(org_id)

        async def work(tx: Tx, account_id: str = account_id, tenant: Tenant = tenant) -> None:
            await parties.get_account(tx, account_id, lock=True)
            await after_change(tenant, tx, account_id)

        await tenant.run(work)
    return len(due)
