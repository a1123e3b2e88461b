"""One transaction deciding a batch of `/entitled` events, each with its own outcome.

The batch claims its event ids, locks every entry involved in one fixed order, decides each
event in arrival order with the domain's per-event rules (`domain/gate.py`), writes all events,
draws and `used` values set-wise and commits once. A refused, invalid or duplicate event never
fails its neighbours: it only gets its own answer. A batch of one is the one-by-one gate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from grantledger.domain.alerts import FEATURE_BALANCE_BELOW
from grantledger.domain.corrections import Source, record_draws
from grantledger.domain.errors import Conflict, InvalidInput, LedgerError, NotEntitled
from grantledger.domain.gate import (
    EVENT_ID_MEMORY,
    Ledger,
    duplicate_message,
    plan_draws,
    quantities_of,
)
from grantledger.domain.journal import draw_kind
from grantledger.domain.windows import (
    PlanSchedule,
    group_of,
    in_force,
    past_grace,
    rollover_of,
    rollover_origin,
    rollover_source_of,
    rolls_over,
    usage_window,
)
from grantledger.service import counters
from grantledger.service.context import Tenant
from grantledger.service.entitlements import hold_expiry
from grantledger.service.entitlements.cycles import make_cycle_entries_of
from grantledger.service.entitlements.event_input import EventInput
from grantledger.service.entitlements.plan_view import key_of, window_key
from grantledger.service.notifications import notify
from grantledger.store.books import audit as audit_rows
from grantledger.store.books import journal
from grantledger.store.books.journal import EntryMove
from grantledger.store.entitlements import entries, event_schemas, gate, usage
from grantledger.store.entitlements.event_log import shortfall_json
from grantledger.store.entitlements.gate import (
    DrawRecord,
    EventRecord,
    PriorOutcome,
    SchemaLinks,
    UsedUpdate,
    WatchedBy,
)
from grantledger.store.entitlements.usage import WindowKey
from grantledger.store.tx import Audit, Tx


@dataclass(frozen=True)
class Received:
    """An event as the gate takes it: its id fixed (generated once when the caller sent none,
    so a retried transaction keeps it) and its attributes already checked to be distinct.
    `source` is the door: ENTITLED judges (refuses what is not covered), INGEST records
    (draws what is covered, the rest a shortfall)."""

    event: EventInput
    event_id: str
    attributes: dict[str, str]
    source: Source = Source.ENTITLED
    # A feature hold's units, given per feature rather than through a schema's attributes.
    quantities: Mapping[str, Decimal] | None = None
    # The `/entitled` request's audit row, written with the batch that answers it.
    audit: Audit | None = None


@dataclass(frozen=True)
class Outcome:
    """The answer to one event: `error` None when it was recorded (its reference id, and what
    its entries could not cover when ingested), else the error it is answered with."""

    error: LedgerError | None = None
    reference: str | None = None
    shortfall: dict[str, Decimal] = field(default_factory=dict)
    # A duplicate id whose original was accepted for the same account: a producer's retry,
    # which the ingestion doors answer as recorded (once).
    repeat: bool = False


@dataclass(frozen=True)
class _Valid:
    index: int
    received: Received
    quantities: dict[str, Decimal]


async def ingest_batch(tenant: Tenant, batch: Sequence[Received]) -> list[Outcome]:
    """Decide every event of `batch` in one transaction; outcomes in the batch's order."""

    expired: list[int] = []

    async def work(tx: Tx) -> list[Outcome]:
        expired.clear()  # a retried attempt counts afresh
        return await decide(tenant, tx, batch, expired=expired)

    outcomes = await tenant.run(work)
    counters.current().feature_holds("expired", sum(expired))
    return outcomes


async def decide(
    tenant: Tenant,
    tx: Tx,
    batch: Sequence[Received],
    *,
    claim: bool = True,
    expired: list[int] | None = None,
) -> list[Outcome]:
    """Decide the batch in `tx`. Without `claim` the event ids are taken as claimed already:
    a correction judging an event again under the id it holds. `expired` collects how many
    feature holds past their limit the batch expired first (counted by the caller once the
    transaction commits)."""
    now = tenant.now()
    outcomes: list[Outcome] = [Outcome() for _ in batch]
    valid, billing = await _validate(tx, batch, outcomes)
    ids = [v.received.event_id for v in valid]
    claimed = await gate.claim_event_ids(tx, ids, now, now - EVENT_ID_MEMORY) if claim else set(ids)
    deciders: list[_Valid] = []
    copies: list[_Valid] = []  # later copies of an id this batch decides
    first: set[str] = set()
    for v in valid:
        event_id = v.received.event_id
        if event_id in claimed and event_id not in first:
            first.add(event_id)
            deciders.append(v)
        else:
            copies.append(v)
    prior = await gate.prior_outcomes(
        tx, [v.received.event_id for v in copies if v.received.event_id not in claimed]
    )
    if deciders:
        # A hold past its limit no longer counts: its units go back before anything is judged.
        count = await hold_expiry.expire_lapsed(
            tenant, tx, sorted({v.received.event.account_id for v in deciders})
        )
        if expired is not None:
            expired.append(count)
    ledger, plans, windows = await _lock(tenant, tx, deciders, billing)
    # What this batch records is dated once every row it writes is locked: a transaction that
    # wrote those rows before (a correction giving units back, say) has committed by now and
    # is dated earlier, so the recorded order is the order things happened in and `asOf` or
    # `verify` replaying it never sees a unit drawn before it was given back.
    now = tenant.now()
    received: list[EventRecord] = []
    drawn: list[DrawRecord] = []
    decided: dict[str, PriorOutcome] = {}  # event id: how this batch decided it
    touched: dict[tuple[str, str, str], None] = {}  # (account, feature, entry), ordered
    for v in deciders:
        event, account = v.received.event, v.received.event.account_id
        shortfall: dict[str, Decimal] = {}
        try:
            if v.received.source is not Source.SETTLE:
                # A settlement is dated when its hold was placed, in time by then.
                _check_grace(plans.get(account, ()), event.timestamp, now)
            holding = ledger.of(account, sorted(v.quantities))
            if v.received.source in (Source.INGEST, Source.SETTLE):
                planned, shortfall = record_draws(holding, v.quantities, event.timestamp)
            else:
                planned = plan_draws(holding, v.quantities, event.timestamp)
        except NotEntitled as refusal:
            refused = _record(tenant, v.received, now, refusal.message)
            outcomes[v.index] = Outcome(refusal, refused.id)
            received.append(refused)
            decided[v.received.event_id] = PriorOutcome(False, refusal.message, account, refused.id)
            continue
        ledger.apply(account, planned)
        record = _record(tenant, v.received, now, None, shortfall)
        outcomes[v.index] = Outcome(None, record.id, shortfall)
        received.append(record)
        decided[v.received.event_id] = PriorOutcome(True, None, account, record.id)
        for seq, (feature_id, d) in enumerate(planned):
            plan = ledger.is_plan(account, feature_id, d.entry_id)
            drawn.append(
                DrawRecord(
                    record.id,
                    seq,
                    account,
                    feature_id,
                    d.entry_id,
                    d.amount,
                    now,
                    event.timestamp,
                    plan,
                )
            )
            touched[(account, feature_id, d.entry_id)] = None
    for v in copies:
        event_id = v.received.event_id
        # None: claimed, but its event row is gone (its outcome unknown)
        found = decided.get(event_id) or prior.get(event_id)
        repeat = (
            found is not None and found.accepted and found.account_id == v.received.event.account_id
        )
        outcomes[v.index] = Outcome(
            Conflict(
                duplicate_message(
                    event_id,
                    found.accepted if found else None,
                    found.reason if found else None,
                    account_id=v.received.event.account_id,
                    original_account_id=found.account_id if found else None,
                )
            ),
            # A repeat is answered with the reference of what was recorded the first time.
            reference=found.reference if repeat and found else None,
            repeat=repeat,
        )
    used = [UsedUpdate(a, f, e, ledger.own_used(a, f, e)) for a, f, e in sorted(touched)]
    await usage.save_usage(tx, {windows[k]: ledger.usage[k] for k in ledger.changed_usage}, now)
    # The notification hook's alerts read goes with the writes (one round trip fewer).
    watched = WatchedBy(sorted({a for a, _, _ in touched}), [FEATURE_BALANCE_BELOW])
    watching = await gate.record_batch(tx, received, used, drawn, now, watched)
    await audit_rows.record_many(
        tx,
        [
            (r.audit, 200 if o.error is None else o.error.status)
            for r, o in zip(batch, outcomes, strict=True)
            if r.audit is not None
        ],
        now,
    )
    await _journal_draws(tx, received, drawn, now)
    await notify.after_change(
        tenant,
        tx,
        features={(a, f) for a, f, _ in touched},
        watching=watching,
        announce=[("usage.shortfall", o.reference or "") for o in outcomes if o.shortfall],
    )
    return outcomes


async def _journal_draws(
    tx: Tx, received: Sequence[EventRecord], drawn: Sequence[DrawRecord], now: datetime
) -> None:
    """A journal row per draw, dated at its event's timestamp. A batch holds several requests,
    so its rows name their event, not one request's id or key."""
    event_ids = {e.id: e.event_id for e in received}
    sources = {e.id: e.source for e in received}
    await journal.append_entry_moves(
        tx,
        [
            EntryMove(
                d.account_id,
                d.feature_id,
                d.entry_id,
                draw_kind(sources.get(d.event_pk, "")),
                -d.amount,
                d.occurred_at,
                event_id=event_ids.get(d.event_pk),
                with_cause=False,
            )
            for d in drawn
        ],
        now,
    )


async def _validate(
    tx: Tx, batch: Sequence[Received], outcomes: list[Outcome]
) -> tuple[list[_Valid], set[str]]:
    """The events that name an active metering schema, an existing account and every quantity,
    and the accounts among theirs on a billing plan; the other events get their 400 in
    `outcomes` and are not claimed (they change nothing)."""
    wanted = sorted({r.event.account_id for r in batch if len(r.event.account_id) <= 50})
    links, billing = await gate.gate_inputs(
        tx, sorted({r.event.schema_name for r in batch if r.quantities is None}), wanted
    )
    missing: dict[str, bool] = {}  # schema without features → it exists at all
    valid: list[_Valid] = []
    for index, r in enumerate(batch):
        try:
            if r.quantities is not None:  # a feature hold names its features itself
                if r.event.account_id not in billing:
                    raise InvalidInput(f"account {r.event.account_id} does not exist")
                valid.append(_Valid(index, r, dict(r.quantities)))
                continue
            schema = links.get(r.event.schema_name)
            if schema is None:
                name = r.event.schema_name
                if name not in missing:
                    missing[name] = await event_schemas.get_schema(tx, name) is not None
                _check_schema(name, None, missing[name])
            else:
                _check_schema(r.event.schema_name, schema, True)
                if r.event.account_id not in billing:
                    raise InvalidInput(f"account {r.event.account_id} does not exist")
                valid.append(_Valid(index, r, quantities_of(r.attributes, schema.links)))
        except InvalidInput as error:
            outcomes[index] = Outcome(error)
    return valid, {account for account, on_plan in billing.items() if on_plan}


def _check_schema(name: str, schema: SchemaLinks | None, exists: bool) -> None:
    if schema is None:
        if not exists:
            raise InvalidInput(f"event schema {name} does not exist")
        raise InvalidInput(f"no feature consumes events of schema {name}")
    if not schema.active:
        raise InvalidInput(f"event schema {name} is inactive; activate it to accept its events")


async def _lock(
    tenant: Tenant, tx: Tx, deciders: Sequence[_Valid], billing: set[str]
) -> tuple[Ledger, dict[str, list[PlanSchedule]], dict[tuple[str, str, datetime], WindowKey]]:
    """Make the plan-cycle entries the events need, lock every entry they may draw from in one
    statement, in (account, feature, id) order, then the usage of those plan entries' windows.
    Also the accounts' BILLING schedules, and the windows by (account, feature, start)."""
    ledger = Ledger()
    if not deciders:
        return ledger, {}, {}
    cycles = sorted(
        {
            (v.received.event.account_id, v.received.event.timestamp, tuple(sorted(v.quantities)))
            for v in deciders
            if v.received.event.account_id in billing
        }
    )
    plans = await make_cycle_entries_of(tenant, tx, cycles)  # accounts share-locked, in order
    instants = [v.received.event.timestamp for v in deciders]
    account_ids = [v.received.event.account_id for v in deciders]
    feature_ids = sorted({f for v in deciders for f in v.quantities})
    rolling = sorted({a for a, schedules_ in plans.items() if rolls_over(schedules_, feature_ids)})
    records = await gate.lock_usable_entries(
        tx,
        account_ids,
        feature_ids,
        min(instants),
        max(instants),
        # Every stored ROLLOVER entry of those accounts: what each rolled and what events
        # dated in the window it came from draw are one allowance, so both are locked here.
        also=await entries.rollover_ids_of(tx, rolling, feature_ids) if rolling else [],
    )
    windows: dict[tuple[str, str, datetime], WindowKey] = {}
    for r in records:
        ledger.entries.setdefault((r.account_id, r.feature_id), []).append(r.entry)
        account, feature = r.account_id, r.feature_id
        schedules_ = plans.get(account)
        if schedules_ is None:
            continue
        group = group_of(r.entry.id)
        keys: list[WindowKey] = []
        if rollover_of(r.entry.id):
            source = rollover_source_of(schedules_, feature, r.entry)
            if source is not None:
                ledger.rollovers[(account, feature, r.entry.id)] = source
                keys.append(key_of(account, feature, source.window))
            origin = usage_window(schedules_, rollover_origin(r.entry.id))
            if origin is not None:
                ledger.rolled_from[(account, feature, r.entry.id)] = origin.begins
                keys.append(key_of(account, feature, origin))
        elif group is not None:
            key = window_key(schedules_, account, feature, r.entry)
            if key is not None:
                ledger.window_of[(account, feature, group)] = key.begins
                keys.append(key)
        for key in keys:
            windows[(account, feature, key.begins)] = key
    figures = await usage.lock_usage(tx, list(windows.values()), tenant.now())
    ledger.usage = {(k.account_id, k.feature_id, k.begins): used for k, used in figures.items()}
    return ledger, plans, windows


def _check_grace(plans: Sequence[PlanSchedule], at: datetime, now: datetime) -> None:
    """Refuse an event stamped in a plan cycle closed longer ago than the plan's grace period."""
    s = in_force(plans, at)
    closed = past_grace(s, at, now) if s is not None else None
    if s is not None and closed is not None:
        shown = closed.isoformat().replace("+00:00", "Z")
        raise NotEntitled(
            f"the event is dated in a cycle of its plan that closed at {shown}; the plan judges "
            f"events up to {s.grace_days} days after a cycle closes (gracePeriodDays)"
        )


def _record(
    tenant: Tenant,
    r: Received,
    now: datetime,
    refusal: str | None,
    shortfall: dict[str, Decimal] | None = None,
) -> EventRecord:
    return EventRecord(
        id=tenant.new_id("evt", now),
        event_id=r.event_id,
        account_id=r.event.account_id,
        schema_name=r.event.schema_name,
        timestamp=r.event.timestamp,
        accepted=refusal is None,
        reason=refusal,
        payload=r.event.payload,
        received_at=now,
        source=r.source.value,
        shortfall=shortfall_json(shortfall or {}),
    )
