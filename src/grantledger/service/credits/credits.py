"""Granting, reading, voiding and expiring monetary credits; the account balance."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal

from grantledger.domain import credits as rules
from grantledger.domain.credits import Credit, CreditStatus, LedgerEvent, Movement
from grantledger.domain.errors import Conflict, InvalidInput, NotFound
from grantledger.domain.holds import HoldStatus
from grantledger.domain.journal import JournalKind
from grantledger.service import counters
from grantledger.service.context import Tenant
from grantledger.service.fingerprint import fingerprint
from grantledger.service.idempotency import replay_of
from grantledger.service.notifications import notify
from grantledger.store.books.journal import append_credit_moves
from grantledger.store.credits import credits as store
from grantledger.store.credits import holds as hold_store
from grantledger.store.credits.credit_transactions import (
    TransactionRecord,
    debits_around,
    expiries_and_voids_of,
    insert_transactions,
    transactions_of,
)
from grantledger.store.credits.credits import CreditRecord
from grantledger.store.credits.holds import HoldRecord, held_moves, hold_events_of
from grantledger.store.paging import Page
from grantledger.store.parties import parties
from grantledger.store.parties.parties import AccountRecord
from grantledger.store.tx import Tx


@dataclass(frozen=True)
class GrantRequest:
    account_id: str
    purpose: str
    effective_from: date
    effective_until: date | None
    credit_amount: Decimal
    priority: int
    applicable_entity_ids: tuple[str, ...] | None = None
    grantor_id: str | None = None
    idempotency_key: str | None = None
    cost_basis: Decimal | None = None

    def fingerprint(self) -> str:
        # The cost basis joins the request's hash only when given, so every key used before
        # it existed still matches its replays.
        basis = {} if self.cost_basis is None else {"costBasis": self.cost_basis}
        return fingerprint(
            {
                **basis,
                "accountId": self.account_id,
                "purpose": self.purpose,
                "effectiveFrom": self.effective_from,
                "effectiveUntil": self.effective_until,
                "creditAmount": self.credit_amount,
                "priority": self.priority,
                "applicableEntityIds": list(self.applicable_entity_ids or []),
                "grantorId": self.grantor_id,
            }
        )


def transaction(
    tenant: Tenant,
    credit_id: str,
    movement: Movement,
    at: datetime,
    *,
    invoice_id: str | None = None,
    entity_id: str | None = None,
) -> TransactionRecord:
    return TransactionRecord.of(
        tenant.new_id("ctxn", at),
        credit_id,
        movement,
        at,
        invoice_id=invoice_id,
        entity_id=entity_id,
    )


async def lock_account(tx: Tx, account_id: str) -> AccountRecord:
    """Lock the account row: every ledger write of an account queues here, in one order."""
    account = await parties.get_account(tx, account_id, lock=True)
    if account is None:
        raise NotFound(f"account {account_id} not found")
    return account


async def expire_due(tenant: Tenant, tx: Tx, account_id: str) -> None:
    """Write the EXPIRED transactions of credits whose window has ended. Caller holds the lock."""
    now = tenant.now()
    due = [
        r
        for r in await store.account_credits(
            tx, account_id, statuses=[CreditStatus.ACTIVE], lock=True
        )
        if r.ledger.is_due_for_expiry(now.date())
    ]
    movements: list[TransactionRecord] = []
    for record in due:
        state, movement = rules.expire(record.ledger, now.date())
        await store.save_ledger_state(tx, record, state, now)
        if movement:
            # Dated when the credit expired, not when the sweeper or a read got to it.
            movements.append(
                replace(
                    transaction(tenant, record.id, movement, now),
                    created_at=record.ledger.expired_at or now,
                )
            )
    await insert_transactions(tx, movements, at=now)


async def release_lapsed(tenant: Tenant, tx: Tx, account_id: str) -> int:
    """Give back the money of the account's holds past their time limit, marked EXPIRED at
    their limit (on a credit expired meanwhile it leaves as expired money). The caller holds
    the account lock. How many were released."""
    now = tenant.now()
    lapsed = await hold_store.lapsed_holds(tx, account_id, now, lock=True)
    if not lapsed:
        return 0
    records = {r.id: r for r in await store.account_credits(tx, account_id, lock=True)}
    movements: list[TransactionRecord] = []
    for hold in lapsed:
        assert hold.expires_at is not None
        for allocation in hold.allocations:
            record = records[allocation.credit_id]
            state, movement = rules.release(record.ledger, allocation.amount)
            if movement is not None:
                entity = hold.lines[allocation.line_index].entity_id
                movements.append(
                    transaction(
                        tenant,
                        record.id,
                        movement,
                        hold.expires_at,
                        invoice_id=hold.invoice_id,
                        entity_id=entity,
                    )
                )
            records[record.id] = await store.save_ledger_state(tx, record, state, now)
        await hold_store.settle_hold(tx, hold.id, HoldStatus.EXPIRED, hold.expires_at)
        # What was held goes back at the hold's limit (RELEASE rows, dated then).
        await append_credit_moves(tx, held_moves(hold, JournalKind.RELEASE, hold.expires_at), now)
    await insert_transactions(tx, movements, at=now)
    expired = [replace(h, status=HoldStatus.EXPIRED, settled_at=h.expires_at) for h in lapsed]
    await notify.after_change(tenant, tx, account_id, expired=expired)
    return len(lapsed)


async def _materialize_expiry(
    tenant: Tenant, tx: Tx, *, account_id: str | None = None, credit_id: str | None = None
) -> bool:
    """Expire what is due so that a read shows the EXPIRED status and transaction too."""
    due = await store.due_accounts(
        tx, tenant.now().date(), 10_000, account_id=account_id, credit_id=credit_id
    )
    for due_account in due:
        await lock_account(tx, due_account)
        await expire_due(tenant, tx, due_account)
        await notify.after_change(tenant, tx, due_account)
    # Holds past their time limit on the account read (or the credit's) are written too, so
    # the credits' holdAmount agrees with the balance, which counts them back at once.
    if account_id is None and credit_id is not None:
        found = await store.get_credit(tx, credit_id)
        account_id = found.account_id if found is not None else None
    released = 0
    if account_id is not None and await hold_store.lapsed_holds(tx, account_id, tenant.now()):
        await lock_account(tx, account_id)
        released = await release_lapsed(tenant, tx, account_id)
    return bool(due) or released > 0


def _found_in(
    existing: Mapping[str, CreditRecord],
) -> Callable[[str], Awaitable[CreditRecord | None]]:
    """A lookup by key of credits read already (a batch's keys are read in one query)."""

    async def find(key: str) -> CreditRecord | None:
        return existing.get(key)

    return find


def _new_credit(
    tenant: Tenant,
    credit_id: str,
    request: GrantRequest,
    account: AccountRecord,
    digest: str,
    now: datetime,
) -> tuple[CreditRecord, TransactionRecord]:
    """A fresh credit in the account's currency, as the request describes it, and its CREDITED
    transaction."""
    ledger, credited = rules.grant(
        credit_id,
        request.credit_amount,
        request.priority,
        request.effective_from,
        request.effective_until,
        now,
        request.applicable_entity_ids,
    )
    record = CreditRecord.granted(
        ledger,
        tenant.org_id,
        request.account_id,
        account.customer_id,
        account.invoice_currency,
        request.purpose,
        grantor_id=request.grantor_id,
        idempotency_key=request.idempotency_key,
        request_hash=digest,
        cost_basis=request.cost_basis,
    )
    return record, transaction(tenant, record.id, credited, now)


async def grant(tenant: Tenant, requests: Sequence[GrantRequest]) -> list[CreditRecord]:
    """Create every credit or none; a replayed idempotency key returns the credit it made."""
    keys = [r.idempotency_key for r in requests if r.idempotency_key is not None]
    first_with: dict[str, int] = {}
    # Every error of a batch names the item it is about, as a schema error does.
    for i, r in enumerate(requests):
        if r.idempotency_key is not None:
            rules.check_caller_key(r.idempotency_key, f"creditRequests[{i}].idempotencyKey")
            if r.idempotency_key in first_with:
                raise InvalidInput(
                    f"creditRequests[{i}].idempotencyKey: the same as creditRequests"
                    f"[{first_with[r.idempotency_key]}]; keys must be distinct within one request"
                )
            first_with[r.idempotency_key] = i
        if r.effective_until is not None and r.effective_until < r.effective_from:
            raise InvalidInput(
                f"creditRequests[{i}].effectiveUntil: must not be before effectiveFrom"
            )

    made = [0]  # credits the committed attempt created (replays excluded)

    async def work(tx: Tx) -> list[CreditRecord]:
        made[0] = 0
        accounts: dict[str, AccountRecord] = {}
        for account_id in sorted({r.account_id for r in requests}):
            try:
                accounts[account_id] = await lock_account(tx, account_id)
            except NotFound as missing:
                i = next(i for i, r in enumerate(requests) if r.account_id == account_id)
                raise NotFound(f"creditRequests[{i}].accountId: {missing.message}") from None
        existing = await store.credits_by_idempotency_key(tx, keys)
        now = tenant.now()
        # One instant for the whole batch, so the id breaks the tie in the burn-down order:
        # ascending ids in request order spend ties in the order they were asked for.
        credit_ids = iter(tenant.new_ids("cred", len(requests), now))
        results: list[CreditRecord] = []
        movements: list[TransactionRecord] = []
        for i, request in enumerate(requests):
            digest = request.fingerprint()
            try:
                prior = await replay_of(
                    request.idempotency_key,
                    _found_in(existing),
                    digest,
                    lambda p: (
                        f"idempotencyKey {p.idempotency_key} was already used for a "
                        f"different credit ({p.id})"
                    ),
                )
            except Conflict as clash:
                raise Conflict(f"creditRequests[{i}].idempotencyKey: {clash.message}") from None
            if prior is not None:
                results.append(prior)
                continue
            record, credited = _new_credit(
                tenant, next(credit_ids), request, accounts[request.account_id], digest, now
            )
            await store.insert_credit(tx, record)
            movements.append(credited)
            results.append(record)
            made[0] += 1
        await insert_transactions(tx, movements)
        await notify.after_change(tenant, tx, *sorted(accounts))
        return results

    granted = await tenant.run(work)
    if made[0]:
        counters.current().credits_granted(made[0])
    return granted


def presented(record: CreditRecord, today: date) -> CreditRecord:
    """The record with the status a reader sees today (expiry needs no sweeper run)."""
    status = record.ledger.status_on(today)
    if status is record.ledger.status:
        return record
    return replace(record, ledger=replace(record.ledger, status=status))


async def credit_details(
    tenant: Tenant, credit_id: str
) -> tuple[CreditRecord, list[TransactionRecord]]:
    async def work(tx: Tx) -> tuple[CreditRecord, list[TransactionRecord]]:
        record = await store.get_credit(tx, credit_id)
        if record is None:
            raise NotFound(f"credit {credit_id} not found")
        if await _materialize_expiry(tenant, tx, credit_id=credit_id):
            record = await store.get_credit(tx, credit_id)
            assert record is not None
        return record, await transactions_of(tx, [credit_id])

    return await tenant.run(work)


async def list_credits(
    tenant: Tenant,
    *,
    status: str | None,
    account_id: str | None,
    credit_id: str | None,
    after: str | None,
    limit: int,
) -> Page[CreditRecord]:
    if status is not None and status not in CreditStatus.__members__:
        allowed = ", ".join(CreditStatus.__members__)
        raise InvalidInput(f"status must be one of {allowed}")

    async def work(tx: Tx) -> Page[CreditRecord]:
        # Expire first so that a status filter sees credits whose window just ended.
        await _materialize_expiry(tenant, tx, account_id=account_id, credit_id=credit_id)
        return await store.list_credits(
            tx,
            status=status,
            account_id=account_id,
            credit_id=credit_id,
            after=after,
            limit=limit,
        )

    return await tenant.run(work)


async def void(tenant: Tenant, credit_id: str) -> CreditRecord:
    async def work(tx: Tx) -> CreditRecord:
        found = await store.get_credit(tx, credit_id)
        if found is None:
            raise NotFound(f"credit {credit_id} not found")
        await lock_account(tx, found.account_id)
        await expire_due(tenant, tx, found.account_id)
        record = await store.get_credit(tx, credit_id, lock=True)
        assert record is not None
        now = tenant.now()
        state, movement = rules.void(record.ledger, now.date())
        if state is record.ledger:
            return record
        record = await store.save_ledger_state(tx, record, state, now)
        if movement:
            await insert_transactions(tx, [transaction(tenant, record.id, movement, now)])
        await notify.after_change(tenant, tx, found.account_id)
        return record

    return await tenant.run(work)


@dataclass(frozen=True)
class AccountBalance:
    figures: rules.Balance
    unit: str
    last_updated_at: datetime


async def account_balance(
    tenant: Tenant, account_id: str, as_of: datetime | None
) -> AccountBalance:
    now = tenant.now()
    if as_of is not None and as_of > now:
        raise InvalidInput("asOf must not be in the future")

    async def work(tx: Tx) -> AccountBalance:
        account = await parties.get_account(tx, account_id)
        if account is None:
            raise NotFound(f"account {account_id} not found")
        records = await store.account_credits(tx, account_id)
        if as_of is None:
            lapsed = await hold_store.lapsed_holds(tx, account_id, now)
            states = lapsed_released([r.ledger for r in records], lapsed)
            stamps = [r.updated_at for r in records]
            instant = now
        else:
            states, stamps = await _states_at(tx, records, as_of)
            instant = as_of
        return AccountBalance(
            figures=rules.balance(states, instant.date()),
            unit=account.invoice_currency,
            last_updated_at=max(stamps, default=account.created_at),
        )

    return await tenant.read_as_of(work, as_of)


async def _states_at(
    tx: Tx, records: Sequence[CreditRecord], at: datetime
) -> tuple[list[Credit], list[datetime]]:
    """Rebuild each credit as it stood at `at` from its transactions and holds.

    The debits up to `at` enter as one: their sum (today's consumed amount minus the debits
    since `at`) at the instant of the last of them. Debits change only the consumed amount, and
    whether a credit is due to expire on a day only grows with the day, so the replay ends
    the same; the read costs the debits since `at`, not the credit's whole history.
    """
    ids = [r.id for r in records]
    events: dict[str, list[LedgerEvent]] = {i: [] for i in ids}
    for record in records:
        debits = await debits_around(tx, record.id, at)
        if debits.last_until is not None:
            consumed = record.ledger.consumed - debits.after
            events[record.id].append(
                LedgerEvent(debits.last_until, rules.TransactionType.DEBITED, consumed)
            )
    for t in await expiries_and_voids_of(tx, ids):
        events[t.credit_id].append(LedgerEvent(t.created_at, t.transaction_type, t.amount))
    for h in await hold_events_of(tx, ids):
        events[h.credit_id].append(LedgerEvent(h.created_at, rules.HOLD, h.amount))
        if h.settled_at is not None:
            events[h.credit_id].append(LedgerEvent(h.settled_at, rules.UNHOLD, h.amount))
    states: list[Credit] = []
    stamps: list[datetime] = []
    for record in records:
        state = rules.replay(record.ledger, events[record.id], at)
        if state is None:
            continue
        states.append(state)
        stamps.append(
            max([record.ledger.created_at, *(e.at for e in events[record.id] if e.at <= at)])
        )
    return states, stamps


def lapsed_released(states: Sequence[Credit], lapsed: Sequence[HoldRecord]) -> list[Credit]:
    """The credits as a read shows them: the money of holds past their time limit given back,
    whether or not a write has recorded it yet."""
    by_id = {c.id: c for c in states}
    for hold in lapsed:
        for allocation in hold.allocations:
            credit = by_id.get(allocation.credit_id)
            if credit is not None:
                by_id[credit.id] = rules.release(credit, allocation.amount)[0]
    return [by_id[c.id] for c in states]
