"""`CreditHoldsApi` (extension): reserve credits for an invoice, then capture or release them,
or debit them in one step."""

from __future__ import annotations

from grantledger.client._core import Call, body_of, coerce, path, query
from grantledger.client.api._base import Api, Body, C, operation, pager
from grantledger.client.models.holds import (
    CreateCreditHoldRequest,
    CreditHold,
    CreditHoldPaginatedResponse,
)

__all__ = ["CreditHoldsApi"]

_HOLD = "/accounts/{a}/credit_holds/{i}"


def _place(kind: str, account_id: str, request: CreateCreditHoldRequest | Body) -> Call[CreditHold]:
    # The invoice id keys the hold: a repeat with the same body returns the first answer.
    return Call(
        "POST",
        path("/accounts/{a}/" + kind, a=account_id),
        CreditHold,
        body=body_of(coerce(CreateCreditHoldRequest, request)),
        json_body=True,
        idempotent=True,
    )


def _create_credit_hold(
    account_id: str, create_credit_hold_request: CreateCreditHoldRequest | Body
) -> Call[CreditHold]:
    """`POST /accounts/{account_id}/credit_holds`: reserve what the credits can cover."""
    return _place("credit_holds", account_id, create_credit_hold_request)


def _create_credit_debit(
    account_id: str, create_credit_hold_request: CreateCreditHoldRequest | Body
) -> Call[CreditHold]:
    """`POST /accounts/{account_id}/credit_debits`: hold and capture in one step."""
    return _place("credit_debits", account_id, create_credit_hold_request)


def _capture_credit_hold(account_id: str, invoice_id: str) -> Call[CreditHold]:
    """`POST …/credit_holds/{invoice_id}/capture`: the held amounts are consumed."""
    # Settling a settled hold the same way returns it unchanged: safe to repeat.
    return Call(
        "POST", path(_HOLD + "/capture", a=account_id, i=invoice_id), CreditHold, idempotent=True
    )


def _release_credit_hold(account_id: str, invoice_id: str) -> Call[CreditHold]:
    """`POST …/credit_holds/{invoice_id}/release`: the held amounts return to the balance."""
    return Call(
        "POST", path(_HOLD + "/release", a=account_id, i=invoice_id), CreditHold, idempotent=True
    )


def _get_credit_hold(account_id: str, invoice_id: str) -> Call[CreditHold]:
    """`GET /accounts/{account_id}/credit_holds/{invoice_id}`."""
    return Call("GET", path(_HOLD, a=account_id, i=invoice_id), CreditHold, idempotent=True)


def _holds_page(
    next_token: str | None, account_id: str, page_size: int | None = None
) -> Call[CreditHoldPaginatedResponse]:
    return Call(
        "GET",
        path("/accounts/{a}/credit_holds", a=account_id),
        CreditHoldPaginatedResponse,
        query=query(nextToken=next_token, pageSize=page_size),
        idempotent=True,
    )


def _list_credit_holds(
    account_id: str, next_token: str | None = None, page_size: int | None = None
) -> Call[CreditHoldPaginatedResponse]:
    """`GET /accounts/{account_id}/credit_holds`: one page of the account's holds."""
    return _holds_page(next_token, account_id, page_size)


class CreditHoldsApi(Api[C]):
    """Two-phase consumption of an account's credits, keyed by invoice id."""

    create_credit_hold = operation(_create_credit_hold)
    create_credit_debit = operation(_create_credit_debit)
    capture_credit_hold = operation(_capture_credit_hold)
    release_credit_hold = operation(_release_credit_hold)
    get_credit_hold = operation(_get_credit_hold)
    list_credit_holds = operation(_list_credit_holds)
    iter_credit_holds = pager(_holds_page)
