"""The admin console's reads: each page's rows from one transaction, so a page is one snapshot
of the ledger. The console's actions are the API's own use cases; only their log is here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from grantledger.domain import credits as rules
from grantledger.domain.credits import CreditStatus, LedgerEvent
from grantledger.domain.errors import NotFound
from grantledger.domain.passthrough import JsonObject
from grantledger.service.context import Tenant
from grantledger.store.console import console_reads as reads
from grantledger.store.console.console_reads import (
    AccountItem,
    ActionRow,
    EventRow,
    OpenHold,
)
from grantledger.store.credits import credits as credit_store
from grantledger.store.credits.credit_transactions import TransactionRecord, transactions_of
from grantledger.store.credits.credits import CreditRecord
from grantledger.store.credits.holds import hold_events_of
from grantledger.store.entitlements.entries import EntryRecord, account_entries
from grantledger.store.paging import Page
from grantledger.store.parties import parties
from grantledger.store.tx import Tx

CREDITS_PAGE = 25
Move = tuple[str, str, Decimal, datetime]  # (credit id, transaction type, amount, at)


async def search_accounts(
    tenant: Tenant, q: str, after: str | None
) -> tuple[Page[AccountItem], dict[str, rules.Balance]]:
    """Accounts matching `q` and the current balance of each (the figures of
    `GET …/credit_balance`, from the cached split of their ACTIVE credits)."""
    today = tenant.now().date()

    async def work(tx: Tx) -> tuple[Page[AccountItem], dict[str, rules.Balance]]:
        found = await reads.search_accounts(tx, q, after)
        held = await reads.active_credits(tx, [a.id for a in found.items])
        return found, {a: rules.balance(cs, today) for a, cs in held.items()}

    return await tenant.run(work)


def burn_down(records: Sequence[CreditRecord], today: date) -> list[CreditRecord]:
    """Spendable credits in the order the next debit takes them, then the rest, newest first."""
    live = [r for r in records if r.ledger.status_on(today) is CreditStatus.ACTIVE]
    live.sort(key=lambda r: rules.burn_down_key(r.ledger))
    done = [r for r in records if r.ledger.status_on(today) is not CreditStatus.ACTIVE]
    done.sort(key=lambda r: r.ledger.created_at, reverse=True)
    return live + done


@dataclass(frozen=True)
class AccountSnapshot:
    credits: list[CreditRecord]  # every credit, in burn-down order
    events: dict[str, list[LedgerEvent]]  # what `asOf` replays, per credit
    moves: list[Move]
    latest: dict[str, list[TransactionRecord]]  # the newest transactions of the credits on the page
    holds: Page[OpenHold]
    ledger: Page[TransactionRecord]
    actions: Page[ActionRow]
    feature_ids: list[str]


async def account_snapshot(
    tenant: Tenant, account_id: str, cursors: JsonObject, credits_offset: int
) -> AccountSnapshot:
    today = tenant.now().date()

    async def work(tx: Tx) -> AccountSnapshot:
        if await parties.get_account(tx, account_id) is None:
            raise NotFound(f"account {account_id} not found")
        records = burn_down(await credit_store.account_credits(tx, account_id), today)
        events, moves = await _ledger_events(tx, [r.id for r in records])
        shown = records[credits_offset : credits_offset + CREDITS_PAGE]
        return AccountSnapshot(
            credits=records,
            events=events,
            moves=moves,
            latest=await reads.latest_transactions(tx, [r.id for r in shown]),
            holds=await reads.open_holds(tx, account_id, cursors.get("holds")),
            ledger=await reads.transactions(tx, account_id=account_id, after=cursors.get("ledger")),
            actions=await reads.actions(tx, account_id, cursors.get("actions")),
            feature_ids=await reads.account_feature_ids(tx, account_id),
        )

    return await tenant.run(work)


async def _ledger_events(
    tx: Tx, credit_ids: Sequence[str]
) -> tuple[dict[str, list[LedgerEvent]], list[Move]]:
    """What `asOf` replays, per credit, in the order `service.credits` builds it (transactions,
    then holds and their settlements), and every transaction as a `Move`."""
    events: dict[str, list[LedgerEvent]] = {i: [] for i in credit_ids}
    moves: list[Move] = []
    for x in await transactions_of(tx, list(credit_ids)):
        moves.append((x.credit_id, x.transaction_type, x.amount, x.created_at))
        if x.transaction_type != rules.TransactionType.CREDITED:
            events[x.credit_id].append(LedgerEvent(x.created_at, x.transaction_type, x.amount))
    for h in await hold_events_of(tx, list(credit_ids)):
        events[h.credit_id].append(LedgerEvent(h.created_at, rules.HOLD, h.amount))
        if h.settled_at is not None:
            events[h.credit_id].append(LedgerEvent(h.settled_at, rules.UNHOLD, h.amount))
    return events, moves


async def feature_rows(
    tenant: Tenant,
    account_id: str,
    feature_id: str,
    draws_after: str | None,
    entry_id: str | None,
) -> tuple[list[EntryRecord], Page[EventRow]]:
    """Every entry of an account's feature (for its per-cycle bars) and the events that drew
    from it (or from one of its entries)."""

    async def work(tx: Tx) -> tuple[list[EntryRecord], Page[EventRow]]:
        entries = await account_entries(tx, account_id, [feature_id])
        drew = await reads.event_log(
            tx, account_id, draws_after, feature_id=feature_id, entry_id=entry_id
        )
        return entries, drew

    return await tenant.run(work)


async def credit_ledger(
    tenant: Tenant, credit_id: str, after: str | None
) -> Page[TransactionRecord]:
    return await tenant.run(lambda tx: reads.transactions(tx, credit_id=credit_id, after=after))


async def record_action(
    tenant: Tenant, actor: str, action: str, account_id: str, target: str, detail: JsonObject
) -> None:
    """Log who did what through the console (the action itself is the API's use case)."""
    now = tenant.now()

    async def work(tx: Tx) -> None:
        await reads.record_action(
            tx, tenant.new_id("cact", now), actor, action, account_id, target, detail, now
        )

    await tenant.run(work)
