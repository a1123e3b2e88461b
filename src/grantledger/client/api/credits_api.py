"""`CreditsApi`: the five credit operations of the Togai client, plus `as_of` and paging."""

from __future__ import annotations

from datetime import datetime

from grantledger.client._core import Call, body_of, coerce, path, query
from grantledger.client.api._base import Api, Body, C, operation, pager
from grantledger.client.models.credits import (
    CreateCreditRequest,
    CreateCreditResponse,
    Credit,
    CreditBalanceResponse,
    CreditDetailsResponse,
    ListCreditsResponse,
)

__all__ = ["CreditsApi"]


def _create_credit(
    create_credit_request: CreateCreditRequest | Body | None = None,
) -> Call[CreateCreditResponse]:
    """`POST /credits`: grant credits, all or nothing.

    Retried on 429/503 only when every credit request carries an `idempotency_key`.
    """
    request = coerce(CreateCreditRequest, create_credit_request)
    keyed = request is not None and all(r.idempotency_key for r in request.credit_requests)
    return Call(
        "POST",
        "/credits",
        CreateCreditResponse,
        body=body_of(request),
        json_body=True,
        idempotent=keyed and bool(request and request.credit_requests),
    )


def _credit_balance_for_account(
    account_id: str, as_of: datetime | None = None
) -> Call[CreditBalanceResponse]:
    """`GET /accounts/{account_id}/credit_balance`, now or `as_of` a past instant."""
    return Call(
        "GET",
        path("/accounts/{a}/credit_balance", a=account_id),
        CreditBalanceResponse,
        query=query(asOf=as_of),
        idempotent=True,
    )


def _get_credit_details(credit_id: str) -> Call[CreditDetailsResponse]:
    """`GET /credits/{credit_id}`: the credit and its transactions, oldest first."""
    return Call("GET", path("/credits/{c}", c=credit_id), CreditDetailsResponse, idempotent=True)


def _list_credits(
    next_token: str | None = None,
    status: str | None = None,
    account_id: str | None = None,
    id: str | None = None,
    page_size: int | None = None,
) -> Call[ListCreditsResponse]:
    """`GET /credits`: one page (at most `page_size`, 50 by default), newest first."""
    return Call(
        "GET",
        "/credits",
        ListCreditsResponse,
        # `account_id` is snake_case on the wire, unlike the other parameters.
        query=query(
            nextToken=next_token, status=status, account_id=account_id, id=id, pageSize=page_size
        ),
        idempotent=True,
    )


def _void_credit(credit_id: str) -> Call[Credit]:
    """`POST /credits/{credit_id}/void`: the unused remainder can no longer be spent."""
    # Voiding a voided credit returns it unchanged: safe to repeat.
    return Call("POST", path("/credits/{c}/void", c=credit_id), Credit, idempotent=True)


class CreditsApi(Api[C]):
    """Grant, read, list and void monetary credits; read an account's balance."""

    create_credit = operation(_create_credit)
    credit_balance_for_account = operation(_credit_balance_for_account)
    get_credit_details = operation(_get_credit_details)
    list_credits = operation(_list_credits)
    iter_credits = pager(_list_credits)
    void_credit = operation(_void_credit)
