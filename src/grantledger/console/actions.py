"""The console's actions: read a form, say what will happen, and do it through the service layer.

Each action is two POSTs: the first checks the form and answers a confirmation page (what will
change, with a `confirm` button); the second, carrying `confirm=yes` and the same fields, does
it. Grants and plan assignments carry an idempotency key minted for the confirmation page, so
a double click or a resubmitted confirmation acts once.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from grantledger.console import ledger
from grantledger.console.guard import Refused
from grantledger.console.ledger import Wire
from grantledger.domain.days import midnight
from grantledger.domain.entitlements import EntrySource
from grantledger.domain.errors import InvalidInput
from grantledger.domain.money import canonical, to_amount
from grantledger.service.context import Tenant
from grantledger.store.entitlements.event_log import EventLogRecord

_AMOUNT = re.compile(r"^\d{1,18}(\.\d{1,10})?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _text(form: dict[str, str], name: str, label: str, *, limit: int = 255) -> str:
    value = form.get(name, "").strip()
    if not value:
        raise Refused(400, f"{label} is required")
    if len(value) > limit:
        raise Refused(400, f"{label} must be at most {limit} characters")
    return value


def _amount(form: dict[str, str], name: str, label: str) -> Decimal:
    raw = form.get(name, "").strip()
    if not _AMOUNT.match(raw):
        raise Refused(
            400, f"{label} must be a decimal number such as 250 or 12.5 (no sign, no exponent)"
        )
    try:
        return to_amount(Decimal(raw), label)
    except InvalidInput as exc:
        raise Refused(400, exc.message) from exc


def _date(form: dict[str, str], name: str, label: str, *, default: date | None) -> date | None:
    raw = form.get(name, "").strip()
    if not raw:
        return default
    if not _DATE.match(raw):
        raise Refused(400, f"{label} must be a date written YYYY-MM-DD")
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise Refused(400, f"{label} {raw} is not a calendar date") from exc


@dataclass(frozen=True)
class Plan:
    """A checked action: what the confirmation page says, the fields it re-posts, and the work."""

    title: str
    lines: list[tuple[str, str]]
    fields: dict[str, str]
    target: str
    run: Callable[[], Awaitable[Wire]]


Builder = Callable[[Tenant, str, str, dict[str, str]], Plan]


def _key(form: dict[str, str]) -> str:
    given = form.get("idempotencyKey", "")
    if re.fullmatch(r"console-[A-Za-z0-9_-]{20,64}", given):
        return given
    return "console-" + secrets.token_urlsafe(18)


def grant_credit(t: Tenant, actor: str, account_id: str, form: dict[str, str]) -> Plan:
    amount = _amount(form, "amount", "amount")
    purpose = _text(form, "purpose", "purpose")
    today = t.now().date()
    start = _date(form, "effectiveFrom", "effectiveFrom", default=today)
    assert start is not None
    until = _date(form, "effectiveUntil", "effectiveUntil", default=None)
    if until is not None and until < start:
        raise Refused(400, "effectiveUntil must not be before effectiveFrom")
    priority_text = form.get("priority", "").strip() or "1"
    if not priority_text.isdigit() or int(priority_text) > 2_147_483_647:
        raise Refused(400, "priority must be a whole number from 0 (spent first)")
    priority = int(priority_text)
    key = _key(form)
    return Plan(
        title=f"Grant {canonical(amount)} of credit to {account_id}",
        lines=[
            ("amount", canonical(amount)),
            ("purpose", purpose),
            ("effectiveFrom", start.isoformat()),
            ("effectiveUntil", until.isoformat() if until else "never expires"),
            ("priority", str(priority)),
            ("grantorId", actor),
        ],
        fields={
            "amount": canonical(amount),
            "purpose": purpose,
            "effectiveFrom": start.isoformat(),
            "effectiveUntil": until.isoformat() if until else "",
            "priority": str(priority),
            "idempotencyKey": key,
        },
        target=canonical(amount),
        run=lambda: ledger.grant_credit(
            t, account_id, amount, purpose, start, until, priority, actor, key
        ),
    )


def void_credit(t: Tenant, actor: str, account_id: str, form: dict[str, str]) -> Plan:
    credit_id = _text(form, "creditId", "creditId", limit=50)
    return Plan(
        title=f"Void the unused remainder of credit {credit_id}",
        lines=[("creditId", credit_id), ("effect", "what is left becomes VOIDED, at once")],
        fields={"creditId": credit_id},
        target=credit_id,
        run=lambda: _void_own_credit(t, account_id, credit_id),
    )


async def _void_own_credit(t: Tenant, account_id: str, credit_id: str) -> Wire:
    header = await ledger.credit_header(t, credit_id)
    if header["accountId"] != account_id:
        raise Refused(404, f"credit {credit_id} is not a credit of account {account_id}")
    return await ledger.void_credit(t, credit_id)


def _settle(capture: bool) -> Builder:
    def build(t: Tenant, actor: str, account_id: str, form: dict[str, str]) -> Plan:
        invoice_id = _text(form, "invoiceId", "invoiceId")
        verb = "Capture" if capture else "Release"
        effect = "the held money is spent" if capture else "the held money is spendable again"
        return Plan(
            title=f"{verb} the hold for invoice {invoice_id}",
            lines=[("invoiceId", invoice_id), ("effect", effect)],
            fields={"invoiceId": invoice_id},
            target=invoice_id,
            run=lambda: ledger.settle_hold(t, account_id, invoice_id, capture),
        )

    return build


_SOURCES = {
    "ENTITLEMENT": EntrySource.ENTITLEMENT,
    "REFUND": EntrySource.REFUND,
    "OVERAGE": EntrySource.OVERAGE,
}


def grant_entry(t: Tenant, actor: str, account_id: str, form: dict[str, str]) -> Plan:
    feature_id = _text(form, "featureId", "featureId", limit=50)
    granted = _amount(form, "granted", "granted")
    source = _SOURCES.get(form.get("source", "ENTITLEMENT").strip() or "ENTITLEMENT")
    if source is None:
        raise Refused(400, "source must be ENTITLEMENT, REFUND or OVERAGE")
    until_day = _date(form, "effectiveUntil", "effectiveUntil", default=None)
    until: datetime | None = midnight(until_day) if until_day else None
    key = _key(form)
    return Plan(
        title=f"Grant {canonical(granted)} of feature {feature_id} to {account_id}",
        lines=[
            ("featureId", feature_id),
            ("granted", canonical(granted)),
            ("source", source.value),
            ("effectiveUntil", until_day.isoformat() if until_day else "never expires"),
        ],
        fields={
            "featureId": feature_id,
            "granted": canonical(granted),
            "source": source.value,
            "effectiveUntil": until_day.isoformat() if until_day else "",
            "idempotencyKey": key,
        },
        target=feature_id,
        run=lambda: ledger.grant_entry(t, account_id, feature_id, granted, source, until, key),
    )


def void_entry(t: Tenant, actor: str, account_id: str, form: dict[str, str]) -> Plan:
    feature_id = _text(form, "featureId", "featureId", limit=50)
    entry_id = _text(form, "entryId", "entryId", limit=50)
    return Plan(
        title=f"Void entry {entry_id} of feature {feature_id}",
        lines=[
            ("featureId", feature_id),
            ("entryId", entry_id),
            ("effect", "its unused balance can no longer be drawn"),
        ],
        fields={"featureId": feature_id, "entryId": entry_id},
        target=f"{feature_id}/{entry_id}",
        run=lambda: ledger.void_entry(t, account_id, feature_id, entry_id),
    )


def assign_plan(t: Tenant, actor: str, account_id: str, form: dict[str, str]) -> Plan:
    plan_id = _text(form, "planId", "planId", limit=50)
    start = _date(form, "effectiveFrom", "effectiveFrom", default=t.now().date())
    assert start is not None
    until = _date(form, "effectiveUntil", "effectiveUntil", default=None)
    if until is not None and until <= start:
        raise Refused(400, "effectiveUntil must be after effectiveFrom")
    key = _key(form)
    return Plan(
        title=f"Put {account_id} on plan {plan_id}",
        lines=[
            ("planId", plan_id),
            ("effectiveFrom", start.isoformat()),
            ("effectiveUntil", until.isoformat() if until else "open-ended"),
            ("effect", "an open plan schedule of the account closes where this one begins"),
        ],
        fields={
            "planId": plan_id,
            "effectiveFrom": start.isoformat(),
            "effectiveUntil": until.isoformat() if until else "",
            "idempotencyKey": key,
        },
        target=plan_id,
        run=lambda: ledger.assign_plan(t, account_id, plan_id, start, until, key),
    )


async def undo_event(
    t: Tenant, actor: str, account_id: str, form: dict[str, str], grace: timedelta
) -> Plan:
    """Take back one judged event of the account: every unit it drew goes back to its entry
    through an appended reversal (`POST /events/correction?action=UNDO`)."""
    reference = _text(form, "referenceId", "referenceId", limit=50)
    record = await ledger.event(t, reference)
    if record.account_id != account_id:
        raise Refused(404, f"event {reference} is not an event of account {account_id}")
    if record.reverted:
        raise Refused(409, f"event {record.event_id} was already reverted")
    if not record.accepted:
        raise Refused(
            409,
            f"event {record.event_id} was refused, so it drew nothing: there is nothing to undo",
        )
    return Plan(
        title=f"Undo event {record.event_id} of {account_id}",
        lines=_undo_lines(record),
        fields={"referenceId": reference},
        target=reference,
        run=lambda: ledger.undo_event(t, record, grace, actor),
    )


def _undo_lines(record: EventLogRecord) -> list[tuple[str, str]]:
    lines = [
        ("event", f"{record.event_id} ({record.schema_name}, via {record.source})"),
        ("referenceId", record.pk),
        ("timestamp", record.timestamp.isoformat()),
    ]
    lines += [
        (f"give back to {d.feature_id}", f"{canonical(d.amount)} to entry {d.entry_id}")
        for d in record.draws
    ]
    lines += [
        (f"shortfall of {feature}", f"{canonical(units)} (never drawn: nothing to give back)")
        for feature, units in sorted(record.shortfall.items())
    ]
    if not record.draws:
        lines.append(("draws", "none: it consumed 0 of every feature"))
    lines.append(
        (
            "effect",
            "a reversal is appended for each draw (the draws stay) and the event shows REVERTED; "
            "balances before now still read as they were",
        )
    )
    return lines


async def plan_for(
    name: str,
    t: Tenant,
    actor: str,
    account_id: str,
    form: dict[str, str],
    grace: timedelta,
) -> Plan:
    """The checked action `name` (404 for no such action). Undoing an event reads it first,
    and is bounded by the server's correction grace."""
    if name == "undo-event":
        return await undo_event(t, actor, account_id, form, grace)
    build = ACTIONS.get(name)
    if build is None:
        raise Refused(404, f"no console action {name}")
    return build(t, actor, account_id, form)


ACTIONS: dict[str, Builder] = {
    "grant-credit": grant_credit,
    "void-credit": void_credit,
    "release-hold": _settle(capture=False),
    "capture-hold": _settle(capture=True),
    "grant-entry": grant_entry,
    "void-entry": void_entry,
    "assign-plan": assign_plan,
}

DONE = {
    "grant-credit": "Credit granted.",
    "void-credit": "Credit voided.",
    "release-hold": "Hold released.",
    "capture-hold": "Hold captured.",
    "grant-entry": "Feature entry granted.",
    "void-entry": "Feature entry voided.",
    "assign-plan": "Plan assigned.",
    "undo-event": "Event undone: its units were given back.",
}
