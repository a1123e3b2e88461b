"""`EntitlementPlansApi` (extension): plans of features, the schedules that put accounts on
them, and one-off purchases of PURCHASE plans."""

from __future__ import annotations

from grantledger.client._core import Call, body_of, coerce, path, query
from grantledger.client.api._base import Api, Body, C, operation, pager
from grantledger.client.models.plans import (
    CreateEntitlementPlanRequest,
    CreatePlanScheduleRequest,
    CreatePurchaseRequest,
    EntitlementPlan,
    EntitlementPlanPaginatedResponse,
    PlanSchedule,
    PlanSchedulesResponse,
    Purchase,
    PurchasePaginatedResponse,
)

__all__ = ["EntitlementPlansApi"]


def _create_entitlement_plan(
    create_entitlement_plan_request: CreateEntitlementPlanRequest | Body,
) -> Call[EntitlementPlan]:
    """`POST /entitlement_plans`."""
    return Call(
        "POST",
        "/entitlement_plans",
        EntitlementPlan,
        body=body_of(coerce(CreateEntitlementPlanRequest, create_entitlement_plan_request)),
        json_body=True,
    )


def _get_entitlement_plan(plan_id: str) -> Call[EntitlementPlan]:
    """`GET /entitlement_plans/{plan_id}`."""
    return Call("GET", path("/entitlement_plans/{p}", p=plan_id), EntitlementPlan, idempotent=True)


def _list_entitlement_plans(
    next_token: str | None = None, page_size: int | None = None
) -> Call[EntitlementPlanPaginatedResponse]:
    """`GET /entitlement_plans`: one page."""
    return Call(
        "GET",
        "/entitlement_plans",
        EntitlementPlanPaginatedResponse,
        query=query(nextToken=next_token, pageSize=page_size),
        idempotent=True,
    )


def _create_plan_schedule(
    account_id: str, create_plan_schedule_request: CreatePlanScheduleRequest | Body
) -> Call[PlanSchedule]:
    """`POST /accounts/{account_id}/plans`: put the account on a plan for a period.

    The same assignment again is a replay, so it is retried on 429/503 like a keyed write."""
    return Call(
        "POST",
        path("/accounts/{a}/plans", a=account_id),
        PlanSchedule,
        body=body_of(coerce(CreatePlanScheduleRequest, create_plan_schedule_request)),
        json_body=True,
        idempotent=True,
    )


def _list_plan_schedules(account_id: str) -> Call[PlanSchedulesResponse]:
    """`GET /accounts/{account_id}/plans`: every schedule of the account."""
    return Call(
        "GET", path("/accounts/{a}/plans", a=account_id), PlanSchedulesResponse, idempotent=True
    )


def _create_purchase(
    account_id: str, create_purchase_request: CreatePurchaseRequest | Body
) -> Call[Purchase]:
    """`POST /accounts/{account_id}/purchases`: buy a PURCHASE plan's feature credits.

    Retried on 429/503 only with an `idempotency_key`.
    """
    request = coerce(CreatePurchaseRequest, create_purchase_request)
    return Call(
        "POST",
        path("/accounts/{a}/purchases", a=account_id),
        Purchase,
        body=body_of(request),
        json_body=True,
        idempotent=request is not None and request.idempotency_key is not None,
    )


def _get_purchase(purchase_id: str) -> Call[Purchase]:
    """`GET /purchases/{purchase_id}`."""
    return Call("GET", path("/purchases/{p}", p=purchase_id), Purchase, idempotent=True)


def _list_account_purchases(
    account_id: str, next_token: str | None = None, page_size: int | None = None
) -> Call[PurchasePaginatedResponse]:
    """`GET /accounts/{account_id}/purchases`: one page, newest first."""
    return Call(
        "GET",
        path("/accounts/{a}/purchases", a=account_id),
        PurchasePaginatedResponse,
        query=query(nextToken=next_token, pageSize=page_size),
        idempotent=True,
    )


def _purchases_page(
    next_token: str | None, account_id: str, page_size: int | None = None
) -> Call[PurchasePaginatedResponse]:
    return _list_account_purchases(account_id, next_token=next_token, page_size=page_size)


class EntitlementPlansApi(Api[C]):
    create_entitlement_plan = operation(_create_entitlement_plan)
    get_entitlement_plan = operation(_get_entitlement_plan)
    list_entitlement_plans = operation(_list_entitlement_plans)
    iter_entitlement_plans = pager(_list_entitlement_plans)
    create_plan_schedule = operation(_create_plan_schedule)
    list_plan_schedules = operation(_list_plan_schedules)
    create_purchase = operation(_create_purchase)
    get_purchase = operation(_get_purchase)
    list_account_purchases = operation(_list_account_purchases)
    iter_account_purchases = pager(_purchases_page)
