"""`CustomersApi`: the customers that own accounts."""

from __future__ import annotations

from grantledger.client._core import Call, body_of, coerce, path, query
from grantledger.client.api._base import Api, Body, C, operation, pager
from grantledger.client.models.common import BaseSuccessResponse
from grantledger.client.models.parties import (
    CreateCustomerRequest,
    CreateCustomerResponse,
    Customer,
    CustomerPaginatedResponse,
    UpdateCustomerRequest,
)

__all__ = ["CustomersApi"]


def _create_customer(
    create_customer_request: CreateCustomerRequest | Body,
) -> Call[CreateCustomerResponse]:
    """`POST /customers` (201): a customer, and its first account when `account` is given."""
    return Call(
        "POST",
        "/customers",
        CreateCustomerResponse,
        body=body_of(coerce(CreateCustomerRequest, create_customer_request)),
        json_body=True,
    )


def _get_customer(customer_id: str) -> Call[Customer]:
    """`GET /customers/{customer_id}`."""
    return Call("GET", path("/customers/{c}", c=customer_id), Customer, idempotent=True)


def _get_customers(
    next_token: str | None = None, page_size: int | None = None
) -> Call[CustomerPaginatedResponse]:
    """`GET /customers`: one page."""
    return Call(
        "GET",
        "/customers",
        CustomerPaginatedResponse,
        query=query(nextToken=next_token, pageSize=page_size),
        idempotent=True,
    )


def _update_customer(
    customer_id: str, update_customer_request: UpdateCustomerRequest | Body
) -> Call[Customer]:
    """`PATCH /customers/{customer_id}`: only the fields given change."""
    # Sets absolute values: repeating it changes nothing more.
    return Call(
        "PATCH",
        path("/customers/{c}", c=customer_id),
        Customer,
        body=body_of(coerce(UpdateCustomerRequest, update_customer_request)),
        json_body=True,
        idempotent=True,
    )


def _delete_customer(customer_id: str) -> Call[BaseSuccessResponse]:
    """`DELETE /customers/{customer_id}`: refused (409, `ConflictException`) while it owns an
    account."""
    # Twice cannot delete more than once; a retry whose first attempt was applied answers 404.
    return Call(
        "DELETE", path("/customers/{c}", c=customer_id), BaseSuccessResponse, idempotent=True
    )


class CustomersApi(Api[C]):
    create_customer = operation(_create_customer)
    get_customer = operation(_get_customer)
    get_customers = operation(_get_customers)
    iter_customers = pager(_get_customers)
    update_customer = operation(_update_customer)
    delete_customer = operation(_delete_customer)
