"""Two-phase consumption of credits, keyed by invoice: hold → capture | release, or debit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from grantledger.domain import credits as rules
from grantledger.domain.credits import Allocation, CreditStatus, Line, Movement
from grantledger.domain.errors import Conflict, NotFound
from grantledger.domain.holds import HoldKind, HoldStatus, status_at
from grantledger.domain.journal import JournalKind
from grantledger.service.context import Tenant
from grantledger.service.credits.credits import (
    expire_due,
    lock_account,
    release_lapsed,
    transaction,
)
from grantledger.service.fingerprint import fingerprint
from grantledger.service.idempotency import replay_of
from grantledger.service.notifications import notify
from grantledger.store.books.journal import append_credit_moves
from grantledger.store.credits import credits as credit_store
from grantledger.store.credits import holds as store
from grantledger.store.credits.credit_transactions import TransactionRecord, insert_transactions
from grantledger.store.credits.credits import CreditRecord
from grantledger.store.credits.holds import AllocationRecord, HoldRecord, held_moves
from grantledger.store.paging import Page
from grantledger.store.parties import parties
from grantledger.store.parties.parties import AccountRecord
from grantledger.store.tx import Tx


@dataclass(frozen=True)
class HoldView:
    hold: HoldRecord
    unit: str
    # The status shown (a HELD hold past its limit shows EXPIRED); None: as stored.
    shown: HoldStatus | None = None

    @property
    def status(self) -> HoldStatus:
        return self.shown or self.hold.status


def view_at(hold: HoldRecord, unit: str, now: datetime) -> HoldView:
    """The hold with the status it shows at `now`."""
    return HoldView(hold, unit, status_at(hold.status, hold.expires_at, now))


@dataclass(frozen=True)
class HoldPlacement:
    """What a HOLD or DEBIT request asks for, on which account, for which invoice."""

    account_id: str
    invoice_id: str
    lines: tuple[Line, ...]
    kind: HoldKind
    allow_partial: bool = True
    expires_in: timedelta | None = None  # the time limit; None: held until settled

    def fingerprint(self) -> str:
        lines = [
            {"entityId": line.entity_id, "entityType": line.entity_type, "amount": line.amount}
            for line in self.lines
        ]
        request: dict[str, object] = {
            "kind": self.kind.value,
            "lines": lines,
            "allowPartial": self.allow_partial,
        }
        if self.expires_in is not None:  # absent from holds made before time limits existed
            request["expiresIn"] = self.expires_in // timedelta(microseconds=1)
        return fingerprint(request)


async def place(tenant: Tenant, request: HoldPlacement) -> HoldView:
    """Reserve (HOLD) or spend (DEBIT) what the account's credits can cover, line by line."""
    digest = request.fingerprint()

    async def work(tx: Tx) -> HoldView:
        account = await lock_account(tx, request.account_id)
        repeated = await replay_of(
            request.invoice_id,
            lambda invoice: store.get_hold(tx, request.account_id, invoice),
            digest,
            lambda p: (
                f"invoiceId {p.invoice_id} was already used on this account with a "
                f"different request ({p.kind} {p.status})"
            ),
        )
        if repeated is not None:
            return view_at(repeated, account.invoice_currency, tenant.now())
        await expire_due(tenant, tx, request.account_id)
        await release_lapsed(tenant, tx, request.account_id)
        records = await credit_store.account_credits(
            tx, request.account_id, statuses=[CreditStatus.ACTIVE], lock=True
        )
        now = tenant.now()
        allocations = rules.allocate([r.ledger for r in records], request.lines, now.date())
        _require_cover(request, allocations, account)
        movements = await _draw(tenant, tx, request, records, allocations, now)
        hold = _new_hold(tenant, request, allocations, digest, now)
        await store.insert_hold(tx, hold)
        await insert_transactions(tx, movements)
        if request.kind is HoldKind.HOLD:
            await append_credit_moves(tx, held_moves(hold, JournalKind.HOLD, now), now)
        await notify.after_change(tenant, tx, request.account_id)
        return HoldView(hold, account.invoice_currency)

    return await tenant.run(work)


def _require_cover(
    request: HoldPlacement, allocations: Sequence[Allocation], account: AccountRecord
) -> None:
    """Refuse a partial cover when the caller asked for all or nothing."""
    if request.allow_partial:
        return
    requested = sum((line.amount for line in request.lines), Decimal(0))
    covered = sum((a.amount for a in allocations), Decimal(0))
    if covered < requested:
        unit = account.invoice_currency
        raise Conflict(
            f"credits cover {covered} {unit} of the {requested} {unit} requested; "
            "nothing was reserved (allowPartial is false)"
        )


async def _draw(
    tenant: Tenant,
    tx: Tx,
    request: HoldPlacement,
    records: Sequence[CreditRecord],
    allocations: Sequence[Allocation],
    now: datetime,
) -> list[TransactionRecord]:
    """Hold each allocation on its credit (a DEBIT captures it at once); the DEBITED movements."""
    by_id = {r.id: r for r in records}
    movements: list[TransactionRecord] = []
    for allocation in allocations:
        record = by_id[allocation.credit_id]
        state = rules.hold(record.ledger, allocation.amount, now.date())
        if request.kind is HoldKind.DEBIT:
            state, movement = rules.capture(state, allocation.amount)
            line = request.lines[allocation.line_index]
            movements.append(
                transaction(
                    tenant,
                    record.id,
                    movement,
                    now,
                    invoice_id=request.invoice_id,
                    entity_id=line.entity_id,
                )
            )
        by_id[record.id] = await credit_store.save_ledger_state(tx, record, state, now)
    return movements


def _new_hold(
    tenant: Tenant,
    request: HoldPlacement,
    allocations: Sequence[Allocation],
    digest: str,
    now: datetime,
) -> HoldRecord:
    debit = request.kind is HoldKind.DEBIT
    return HoldRecord(
        id=tenant.new_id("hold", now),
        account_id=request.account_id,
        invoice_id=request.invoice_id,
        kind=request.kind,
        request_hash=digest,
        lines=request.lines,
        status=HoldStatus.CAPTURED if debit else HoldStatus.HELD,
        created_at=now,
        settled_at=now if debit else None,
        allocations=tuple(
            AllocationRecord(a.line_index, a.credit_id, a.amount) for a in allocations
        ),
        expires_at=now + request.expires_in
        if request.expires_in is not None and not debit
        else None,
    )


async def settle(tenant: Tenant, account_id: str, invoice_id: str, outcome: HoldStatus) -> HoldView:
    """Capture or release a hold. Repeating the same settlement returns the settled hold."""

    async def work(tx: Tx) -> HoldView:
        account = await lock_account(tx, account_id)
        hold = await store.get_hold(tx, account_id, invoice_id, lock=True)
        if hold is None:
            raise NotFound(f"no hold for invoice {invoice_id} on account {account_id}")
        now = tenant.now()
        shown = status_at(hold.status, hold.expires_at, now)
        if shown is outcome:
            return HoldView(hold, account.invoice_currency)
        if shown is not HoldStatus.HELD:
            verb = "captured" if outcome is HoldStatus.CAPTURED else "released"
            why = (
                " (its expiresIn passed: the money went back)"
                if shown is HoldStatus.EXPIRED
                else ""
            )
            raise Conflict(
                f"the hold for invoice {invoice_id} is {shown} and cannot be {verb}{why}"
            )
        await expire_due(tenant, tx, account_id)
        records: dict[str, CreditRecord] = {
            r.id: r for r in await credit_store.account_credits(tx, account_id, lock=True)
        }
        movements: list[TransactionRecord] = []
        for allocation in hold.allocations:
            record = records[allocation.credit_id]
            movement: Movement | None
            if outcome is HoldStatus.CAPTURED:
                state, movement = rules.capture(record.ledger, allocation.amount)
            else:
                state, movement = rules.release(record.ledger, allocation.amount)
            if movement is not None:
                entity = hold.lines[allocation.line_index].entity_id
                movements.append(
                    transaction(
                        tenant, record.id, movement, now, invoice_id=invoice_id, entity_id=entity
                    )
                )
            records[record.id] = await credit_store.save_ledger_state(tx, record, state, now)
        await store.settle_hold(tx, hold.id, outcome, now)
        if outcome is HoldStatus.CAPTURED:
            await insert_transactions(tx, movements, kind=JournalKind.CAPTURE)
        else:
            await append_credit_moves(tx, held_moves(hold, JournalKind.RELEASE, now), now)
            # Money released from a credit that has expired meanwhile leaves it (EXPIRED).
            await insert_transactions(tx, movements)
        await notify.after_change(tenant, tx, account_id)
        settled = replace(hold, status=outcome, settled_at=now)
        return HoldView(settled, account.invoice_currency)

    return await tenant.run(work)


async def _account(tx: Tx, account_id: str) -> AccountRecord:
    account = await parties.get_account(tx, account_id)
    if account is None:
        raise NotFound(f"account {account_id} not found")
    return account


async def get_hold(tenant: Tenant, account_id: str, invoice_id: str) -> HoldView:
    async def work(tx: Tx) -> HoldView:
        account = await _account(tx, account_id)
        hold = await store.get_hold(tx, account_id, invoice_id)
        if hold is None:
            raise NotFound(f"no hold for invoice {invoice_id} on account {account_id}")
        return view_at(hold, account.invoice_currency, tenant.now())

    return await tenant.run(work)


async def list_holds(
    tenant: Tenant, account_id: str, after: str | None, limit: int
) -> tuple[Page[HoldRecord], str]:
    async def work(tx: Tx) -> tuple[Page[HoldRecord], str]:
        account = await _account(tx, account_id)
        page = await store.list_holds(tx, account_id, after, limit)
        return page, account.invoice_currency

    return await tenant.read_behind(work)
