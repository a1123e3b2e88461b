"""Two-phase consumption of credits, keyed by invoice: hold → capture | release, or debit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from grantledger.domain import credits as rules
from grantledger.domain.credits import CreditStatus, Line, Movement
from grantledger.domain.errors import Conflict, NotFound
from grantledger.domain.money import canonical
from grantledger.service.context import Context
from grantledger.service.credits import expire_due, lock_account, transaction
from grantledger.service.fingerprint import fingerprint
from grantledger.store import credits as store
from grantledger.store import parties
from grantledger.store.credits import AllocationRecord, CreditRecord, HoldRecord, TransactionRecord
from grantledger.store.paging import Page


class HoldKind(StrEnum):
    HOLD = "HOLD"
    DEBIT = "DEBIT"


class HoldStatus(StrEnum):
    HELD = "HELD"
    CAPTURED = "CAPTURED"
    RELEASED = "RELEASED"


@dataclass(frozen=True)
class HoldView:
    hold: HoldRecord
    unit: str


def _line_dicts(lines: Sequence[Line]) -> list[dict[str, object]]:
    return [
        {"entityId": line.entity_id, "entityType": line.entity_type, "amount": line.amount}
        for line in lines
    ]


def _stored_lines(hold: HoldRecord) -> list[Line]:
    return [
        Line(line["entityId"], line.get("entityType"), Decimal(str(line["amount"])))
        for line in hold.lines
    ]


async def place(
    ctx: Context,
    org_id: str,
    account_id: str,
    invoice_id: str,
    lines: Sequence[Line],
    kind: HoldKind,
    *,
    allow_partial: bool = True,
) -> HoldView:
    """Reserve (HOLD) or spend (DEBIT) what the account's credits can cover, line by line."""
    digest = fingerprint(
        {"kind": kind.value, "lines": _line_dicts(lines), "allowPartial": allow_partial}
    )

    async def work(conn: AsyncConnection) -> HoldView:
        account = await lock_account(conn, org_id, account_id)
        unit = account["invoice_currency"]
        prior = await store.get_hold(conn, org_id, account_id, invoice_id)
        if prior is not None:
            if prior.request_hash != digest:
                raise Conflict(
                    f"invoiceId {invoice_id} was already used on this account with a different "
                    f"request ({prior.kind} {prior.status})"
                )
            return HoldView(prior, unit)
        await expire_due(ctx, conn, org_id, account_id)
        records = await store.account_credits(
            conn, org_id, account_id, statuses=[CreditStatus.ACTIVE], lock=True
        )
        now = ctx.now()
        allocations = rules.allocate([r.ledger for r in records], lines, now.date())
        requested = sum((line.amount for line in lines), Decimal(0))
        covered = sum((a.amount for a in allocations), Decimal(0))
        if not allow_partial and covered < requested:
            raise Conflict(
                f"credits cover {covered} {unit} of the {requested} {unit} requested; "
                "nothing was reserved (allowPartial is false)"
            )
        by_id = {r.id: r for r in records}
        movements: list[TransactionRecord] = []
        for allocation in allocations:
            record = by_id[allocation.credit_id]
            state = rules.hold(record.ledger, allocation.amount, now.date())
            if kind is HoldKind.DEBIT:
                state, movement = rules.capture(state, allocation.amount)
                line = lines[allocation.line_index]
                movements.append(
                    transaction(
                        ctx,
                        record.id,
                        movement,
                        now,
                        invoice_id=invoice_id,
                        entity_id=line.entity_id,
                    )
                )
            by_id[record.id] = await store.save_ledger_state(conn, record, state, now)
        hold = HoldRecord(
            id=ctx.new_id("hold", now),
            org_id=org_id,
            account_id=account_id,
            invoice_id=invoice_id,
            kind=kind.value,
            request_hash=digest,
            lines=[
                {**d, "amount": canonical(line.amount)}
                for d, line in zip(_line_dicts(lines), lines, strict=True)
            ],
            status=(HoldStatus.CAPTURED if kind is HoldKind.DEBIT else HoldStatus.HELD).value,
            created_at=now,
            settled_at=now if kind is HoldKind.DEBIT else None,
            allocations=[
                AllocationRecord(a.line_index, a.credit_id, a.amount) for a in allocations
            ],
        )
        await store.insert_hold(conn, hold)
        await store.insert_transactions(conn, org_id, movements)
        return HoldView(hold, unit)

    return await ctx.db.run(work)


async def settle(
    ctx: Context, org_id: str, account_id: str, invoice_id: str, outcome: HoldStatus
) -> HoldView:
    """Capture or release a hold. Repeating the same settlement returns the settled hold."""

    async def work(conn: AsyncConnection) -> HoldView:
        account = await lock_account(conn, org_id, account_id)
        hold = await store.get_hold(conn, org_id, account_id, invoice_id, lock=True)
        if hold is None:
            raise NotFound(f"no hold for invoice {invoice_id} on account {account_id}")
        if hold.status == outcome.value:
            return HoldView(hold, account["invoice_currency"])
        if hold.status != HoldStatus.HELD.value:
            verb = "captured" if outcome is HoldStatus.CAPTURED else "released"
            raise Conflict(
                f"the hold for invoice {invoice_id} is {hold.status} and cannot be {verb}"
            )
        await expire_due(ctx, conn, org_id, account_id)
        records: dict[str, CreditRecord] = {
            r.id: r for r in await store.account_credits(conn, org_id, account_id, lock=True)
        }
        now = ctx.now()
        lines = _stored_lines(hold)
        movements: list[TransactionRecord] = []
        for allocation in hold.allocations:
            record = records[allocation.credit_id]
            movement: Movement | None
            if outcome is HoldStatus.CAPTURED:
                state, movement = rules.capture(record.ledger, allocation.amount)
            else:
                state, movement = rules.release(record.ledger, allocation.amount)
            if movement is not None:
                entity = lines[allocation.line_index].entity_id
                movements.append(
                    transaction(
                        ctx, record.id, movement, now, invoice_id=invoice_id, entity_id=entity
                    )
                )
            records[record.id] = await store.save_ledger_state(conn, record, state, now)
        await store.settle_hold(conn, org_id, hold.id, outcome.value, now)
        await store.insert_transactions(conn, org_id, movements)
        settled = replace(hold, status=outcome.value, settled_at=now)
        return HoldView(settled, account["invoice_currency"])

    return await ctx.db.run(work)


async def _account(conn: AsyncConnection, org_id: str, account_id: str) -> dict[str, Any]:
    account = await parties.get_account(conn, org_id, account_id)
    if account is None:
        raise NotFound(f"account {account_id} not found")
    return account


async def get_hold(ctx: Context, org_id: str, account_id: str, invoice_id: str) -> HoldView:
    async def work(conn: AsyncConnection) -> HoldView:
        account = await _account(conn, org_id, account_id)
        hold = await store.get_hold(conn, org_id, account_id, invoice_id)
        if hold is None:
            raise NotFound(f"no hold for invoice {invoice_id} on account {account_id}")
        return HoldView(hold, account["invoice_currency"])

    return await ctx.db.run(work)


async def list_holds(
    ctx: Context, org_id: str, account_id: str, after: str | None, limit: int
) -> tuple[Page[HoldRecord], str]:
    async def work(conn: AsyncConnection) -> tuple[Page[HoldRecord], str]:
        account = await _account(conn, org_id, account_id)
        page = await store.list_holds(conn, org_id, account_id, after, limit)
        return page, account["invoice_currency"]

    return await ctx.db.run(work)
