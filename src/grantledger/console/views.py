"""What each page shows, gathered from the service layer and the console's own reads."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from grantledger.api.wire import parse_as_of
from grantledger.console import chart, ledger, svg
from grantledger.console.ledger import Wire
from grantledger.console.render import wire
from grantledger.domain import credits as rules
from grantledger.domain.money import canonical
from grantledger.service.console import console as reads
from grantledger.service.console.console import CREDITS_PAGE
from grantledger.service.context import Tenant
from grantledger.store.console.console_reads import ActionRow, EventRow, OpenHold
from grantledger.store.credits.credit_transactions import TransactionRecord
from grantledger.store.credits.credits import CreditRecord
from grantledger.store.entitlements.event_log import Correction, EventLogRecord
from grantledger.store.paging import Page

MAX_FEATURES = 20


@dataclass(frozen=True)
class Split:
    """A credit's five parts, as on a reader's day (expired money shown as expired even before
    the sweeper writes it, as the API's reads do)."""

    line: CreditRecord
    status: str
    consumed: str
    held: str
    remaining: str
    expired: str
    voided: str


def split(line: CreditRecord, today: date) -> Split:
    state, _ = rules.expire(line.ledger, today)
    return Split(
        line=line,
        status=line.ledger.status_on(today).value,
        consumed=canonical(state.consumed),
        held=canonical(state.held),
        remaining=canonical(state.remaining),
        expired=canonical(state.expired),
        voided=canonical(state.voided),
    )


@dataclass(frozen=True)
class Figures:
    balance: Wire
    hold_amount: str


def figures(balance: Wire) -> Figures:
    held = balance["availableBalance"] - balance["runningBalance"]
    return Figures(balance, canonical(held))


async def balance_as_of(t: Tenant, account_id: str, text: str) -> tuple[str, Figures]:
    """The figures `credit_balance?asOf=` answers for the same text: parsed by the API's own
    rule, so a bare date is 00:00Z that day here too (docs/api.md, docs/console.md)."""
    instant = parse_as_of(text)
    assert instant is not None
    return wire(instant), figures(await ledger.balance(t, account_id, instant))


@dataclass(frozen=True)
class Month:
    """Money in and out of an account's credits in one calendar month (UTC)."""

    month: str
    credited: str
    debited: str
    expired: str
    voided: str


MONTHS = 12


def monthly(moves: list[tuple[str, str, Decimal, datetime]]) -> list[Month]:
    """The latest MONTHS months with ledger activity, newest first: what finance asks for
    ("what did this customer burn this month?")."""
    sums: dict[str, dict[str, Decimal]] = {}
    for _credit, kind, amount, at in moves:
        month = sums.setdefault(at.strftime("%Y-%m"), {})
        month[kind] = month.get(kind, Decimal(0)) + amount
    out: list[Month] = []
    for key in sorted(sums, reverse=True)[:MONTHS]:
        got = sums[key]
        out.append(
            Month(
                key,
                *(
                    canonical(got.get(k, Decimal(0)))
                    for k in ("CREDITED", "DEBITED", "EXPIRED", "VOIDED")
                ),
            )
        )
    return out


@dataclass(frozen=True)
class EventLine:
    """One judged event on the account page: as `GET /events` shows it (status, draws and
    their reversal, shortfall), who took it back, and whether it can still be undone."""

    wire: Wire
    record: EventLogRecord
    correction: Correction | None
    undoable: bool


def event_line(wire_event: Wire, record: EventLogRecord) -> EventLine:
    # A refused event drew nothing; a reverted one has been given back already.
    undoable = record.accepted and not record.reverted
    return EventLine(wire_event, record, record.correction, undoable)


@dataclass(frozen=True)
class AccountPage:
    account: Wire
    figures: Figures
    chart: svg.ChartSvg
    months: list[Month]
    credits: list[Split]
    credit_transactions: dict[str, list[TransactionRecord]]
    credits_offset: int
    credits_next: int | None
    credit_count: int
    holds: Page[OpenHold]
    ledger: Page[TransactionRecord]
    events: list[EventLine]
    events_next: str | None
    actions: Page[ActionRow]
    features: list[tuple[str, Wire]]
    schedules: list[Wire]
    billing_plans: list[Wire]


async def account_page(t: Tenant, account_id: str, cursors: dict[str, str | None]) -> AccountPage:
    account = await ledger.account(t, account_id)
    balance = await ledger.balance(t, account_id)
    now = t.now()
    today = now.date()
    offset = _offset(cursors.get("credits"))
    snap = await reads.account_snapshot(t, account_id, cursors, offset)
    terms = [r.ledger for r in snap.credits]
    points = chart.series(terms, snap.events, chart.marks_of(terms, snap.moves), now)
    schedules = await ledger.schedules(t, account_id)
    feature_ids = list(snap.feature_ids)
    for plan_feature in await _plan_feature_ids(t, schedules):
        if plan_feature not in feature_ids:
            feature_ids.append(plan_feature)
    features = [
        (f, await ledger.feature_credits(t, account_id, f)) for f in feature_ids[:MAX_FEATURES]
    ]
    shown = snap.credits[offset : offset + CREDITS_PAGE]
    judged, events_next = await ledger.events(t, account_id, cursors.get("events"), CREDITS_PAGE)
    return AccountPage(
        account=account,
        figures=figures(balance),
        chart=svg.render(points),
        months=monthly(snap.moves),
        credits=[split(c, today) for c in shown],
        credit_transactions=snap.latest,
        credits_offset=offset,
        credits_next=offset + CREDITS_PAGE if offset + CREDITS_PAGE < len(snap.credits) else None,
        credit_count=len(snap.credits),
        holds=snap.holds,
        ledger=snap.ledger,
        events=[event_line(w, r) for w, r in judged],
        events_next=events_next,
        actions=snap.actions,
        features=features,
        schedules=schedules,
        billing_plans=[p for p in (await ledger.plans(t, None, 50))[0] if p["type"] == "BILLING"],
    )


async def _plan_feature_ids(t: Tenant, schedules: list[Wire]) -> list[str]:
    """Features with credits per cycle in the plans the account is or was on."""
    found: set[str] = set()
    for plan_id in sorted({s["planId"] for s in schedules}):
        plan = await ledger.plan(t, plan_id)
        found.update(f["featureId"] for f in plan["features"] if "creditsPerCycle" in f)
    return sorted(found)


def _offset(raw: str | None) -> int:
    return int(raw) if raw and raw.isdigit() and len(raw) < 9 else 0


# --- a feature of an account -----------------------------------------------------------------

_CYCLE = re.compile(r"#(\d{4}-\d{2}-\d{2})\$(PRICE_PLAN|OVERAGE)$")
MAX_CYCLES = 12
BAR_WIDTH = 420


def entry_kind(entry: Wire) -> str:
    """PRICE_PLAN, OVERAGE, PURCHASE or GRANT (a direct grant; REFUND shows its source)."""
    if entry["id"].endswith("$PURCHASE"):
        return "PURCHASE"
    if entry["source"] in ("PRICE_PLAN", "OVERAGE"):
        return str(entry["source"])
    return "GRANT"


@dataclass(frozen=True)
class Bar:
    label: str
    value: str
    width: str


@dataclass(frozen=True)
class CycleBars:
    start: str
    granted: Bar
    used: Bar
    overage_limit: Bar
    used_overage: Bar


def cycles(entries: list[Wire]) -> list[CycleBars]:
    """Granted, used, overage allowed and overage used per plan cycle (the latest cycles)."""
    per: dict[str, dict[str, Wire]] = {}
    for entry in entries:
        match = _CYCLE.search(entry["id"])
        if match and entry["status"] != "VOIDED":
            per.setdefault(match.group(1), {})[match.group(2)] = entry
    starts = sorted(per)[-MAX_CYCLES:]
    zero = Decimal(0)
    top = max(
        [zero] + [e["granted"] for s in starts for e in per[s].values()],
    ) or Decimal(1)

    def bar(label: str, value: Decimal) -> Bar:
        width = (Decimal(BAR_WIDTH) * value / top).quantize(Decimal("0.1"))
        return Bar(label, canonical(value), str(width))

    out: list[CycleBars] = []
    for start in reversed(starts):
        plan = per[start].get("PRICE_PLAN")
        over = per[start].get("OVERAGE")
        out.append(
            CycleBars(
                start=start,
                granted=bar("granted", plan["granted"] if plan else zero),
                used=bar("used", plan["used"] if plan else zero),
                overage_limit=bar("overage allowed", over["granted"] if over else zero),
                used_overage=bar("overage used", over["used"] if over else zero),
            )
        )
    return out


@dataclass(frozen=True)
class FeaturePage:
    account: Wire
    feature_id: str
    credits: Wire
    cycles: list[CycleBars]
    entries: list[Wire]
    entries_next: str | None
    draws: Page[EventRow]
    entry_filter: str | None


async def feature_page(
    t: Tenant,
    account_id: str,
    feature_id: str,
    cursors: dict[str, str | None],
    entry_filter: str | None,
) -> FeaturePage:
    account = await ledger.account(t, account_id)
    credits = await ledger.feature_credits(t, account_id, feature_id)
    entries, entries_next = await ledger.entries(
        t, account_id, feature_id, cursors.get("entries"), reads.CREDITS_PAGE
    )
    now = t.now()
    every, draws = await reads.feature_rows(
        t, account_id, feature_id, cursors.get("draws"), entry_filter
    )
    every_wire = [ledger.entry_wire(r, now) for r in every]
    return FeaturePage(
        account=account,
        feature_id=feature_id,
        credits=credits,
        cycles=cycles(every_wire),
        entries=[{**e, "kind": entry_kind(e)} for e in entries],
        entries_next=entries_next,
        draws=draws,
        entry_filter=entry_filter,
    )


def today_text(now: datetime) -> str:
    return now.date().isoformat()
