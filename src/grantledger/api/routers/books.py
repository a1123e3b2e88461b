"""The books (extension): the journal of every movement of money and units."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from grantledger.api.deps import TenantDep, respond
from grantledger.api.jsonio import WireJSONResponse, WireRoute
from grantledger.api.paging import page_size
from grantledger.api.schemas.books import (
    AuditEntryOut,
    AuditPageOut,
    JournalEntryOut,
    JournalPageOut,
    MonthCloseOut,
)
from grantledger.api.wire import parse_instant
from grantledger.domain.journal import parse_cursor
from grantledger.service.books import audit, journal, reports

router = APIRouter(route_class=WireRoute, tags=["Books"])
Text = Annotated[str | None, Query(min_length=1, max_length=50)]
MAX_KINDS = 20


@router.get("/ledger/entries", response_model=JournalPageOut)
async def ledger_entries(
    tenant: TenantDep,
    occurred_from: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    occurred_to: Annotated[str | None, Query(alias="to", max_length=40)] = None,
    account_id: Annotated[str | None, Query(alias="accountId", min_length=1, max_length=50)] = None,
    kind: Annotated[str | None, Query(min_length=1, max_length=400)] = None,
    after: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
    size: Annotated[str | None, Query(alias="pageSize")] = None,
) -> WireJSONResponse:
    """The journal in commit order: every movement of money (credits) and units (feature
    entries) after the cursor `after`, oldest first. Keep asking `after` the answer's `cursor`
    to read every row exactly once (docs/api.md, "The journal")."""
    kinds = tuple(k for k in (kind or "").split(",") if k)
    if len(kinds) > MAX_KINDS:
        kinds = kinds[: MAX_KINDS + 1]  # the service names the first unknown one
    where = journal.journal_filter(
        parse_instant(occurred_from, "from"),
        parse_instant(occurred_to, "to"),
        account_id,
        kinds,
    )
    found = await journal.page(
        tenant, where, parse_cursor(after) if after else None, page_size(size)
    )
    return respond(
        JournalPageOut(
            data=[JournalEntryOut.of(r) for r in found.rows],
            cursor=found.cursor.text(),
            more=found.more,
        )
    )


@router.get("/reports/month_close", response_model=MonthCloseOut)
async def month_close(
    tenant: TenantDep,
    month: Annotated[str, Query(min_length=1, max_length=7)],
    account_id: Annotated[str | None, Query(alias="accountId", min_length=1, max_length=50)] = None,
) -> WireJSONResponse:
    """The close of a month (YYYY-MM, UTC), per currency and per feature: opening + granted +
    adjusted - consumed - expired - voided = closing, and from the cost basis the revenue
    recognised, the breakage and the deferred revenue; every figure a sum of journal rows."""
    return respond(MonthCloseOut.of(await reports.month_close(tenant, month, account_id)))


@router.get("/audit_log", response_model=AuditPageOut)
async def audit_log(
    tenant: TenantDep,
    at_from: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    at_to: Annotated[str | None, Query(alias="to", max_length=40)] = None,
    actor: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    resource: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    after: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
    size: Annotated[str | None, Query(alias="pageSize")] = None,
) -> WireJSONResponse:
    """Who did what: one row per mutating request of this organization (applied or refused),
    in commit order after the cursor `after`; `actor` is `key:` and an API key's prefix,
    `resource` any part of the request's path (an id)."""
    where = audit.audit_filter(
        parse_instant(at_from, "from"), parse_instant(at_to, "to"), actor, resource
    )
    found = await audit.page(tenant, where, parse_cursor(after) if after else None, page_size(size))
    return respond(
        AuditPageOut(
            data=[AuditEntryOut.of(r) for r in found.rows],
            cursor=found.cursor.text(),
            more=found.more,
        )
    )
