"""`AccountsApi`: the accounts that hold credits and entitlements."""

from __future__ import annotations

from datetime import datetime

from grantledger.client._core import Call, body_of, coerce, path, query
from grantledger.client.api._base import Api, Body, C, operation, pager
from grantledger.client.models.common import BaseSuccessResponse
from grantledger.client.models.parties import (
    Account,
    AccountPaginatedResponse,
    CreateAccountRequest,
    UpdateAccountRequest,
)

__all__ = ["AccountsApi"]


def _create_account(create_account_request: CreateAccountRequest | Body) -> Call[Account]:
    """`POST /accounts` (201): an account of an existing customer."""
    return Call(
        "POST",
        "/accounts",
        Account,
        body=body_of(coerce(CreateAccountRequest, create_account_request)),
        json_body=True,
    )


def _get_account(
    account_id: str,
    effective_on: datetime | None = None,
    include_group_details: bool | None = None,
) -> Call[Account]:
    """`GET /accounts/{account_id}`."""
    return Call(
        "GET",
        path("/accounts/{a}", a=account_id),
        Account,
        query=query(effectiveOn=effective_on, includeGroupDetails=include_group_details),
        idempotent=True,
    )


def _get_accounts(
    next_token: str | None = None, page_size: int | None = None
) -> Call[AccountPaginatedResponse]:
    """`GET /accounts`: one page."""
    return Call(
        "GET",
        "/accounts",
        AccountPaginatedResponse,
        query=query(nextToken=next_token, pageSize=page_size),
        idempotent=True,
    )


def _update_account(
    account_id: str, update_account_request: UpdateAccountRequest | Body
) -> Call[Account]:
    """`PATCH /accounts/{account_id}`: only the fields given change."""
    # Sets absolute values: repeating it changes nothing more.
    return Call(
        "PATCH",
        path("/accounts/{a}", a=account_id),
        Account,
        body=body_of(coerce(UpdateAccountRequest, update_account_request)),
        json_body=True,
        idempotent=True,
    )


def _delete_account(account_id: str) -> Call[BaseSuccessResponse]:
    """`DELETE /accounts/{account_id}`: refused (409, `ConflictException`) while the ledger
    holds anything for it (credits, holds, entries, schedules, purchases, events) or an ACTIVE
    alert watches it."""
    # Twice cannot delete more than once; a retry whose first attempt was applied answers 404.
    return Call("DELETE", path("/accounts/{a}", a=account_id), BaseSuccessResponse, idempotent=True)


class AccountsApi(Api[C]):
    create_account = operation(_create_account)
    get_account = operation(_get_account)
    get_accounts = operation(_get_accounts)
    iter_accounts = pager(_get_accounts)
    update_account = operation(_update_account)
    delete_account = operation(_delete_account)
