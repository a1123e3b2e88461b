"""`EntitlementsApi`: the eight entitlement operations of the Togai client, plus direct grants,
set values, `as_of` and paging."""

from __future__ import annotations

from datetime import datetime

from grantledger.client._core import Call, body_of, coerce, path, query
from grantledger.client.api._base import Api, Body, C, operation, pager
from grantledger.client.models.common import BaseSuccessResponse
from grantledger.client.models.entitlements import (
    FeatureCreditEntry,
    GetEntitlementValuesResponse,
    GetFeatureCreditEntriesPaginatedResponse,
    GetFeatureCreditsResponse,
    UpdateFeatureCreditsRequest,
    ValidateEntitlementValueRequest,
)
from grantledger.client.models.events import IngestEventRequest
from grantledger.client.models.plans import (
    CreateFeatureCreditEntryRequest,
    SetEntitlementValueRequest,
)

__all__ = ["EntitlementsApi"]

_VALUE = "/accounts/{a}/entitlements/{f}"
_ENTRIES = "/accounts/{a}/features/{f}/entries"


def _get_entitlement_value(account_id: str, feature_id: str) -> Call[GetEntitlementValuesResponse]:
    """`GET /accounts/{account_id}/entitlements/{feature_id}` (404 if not held)."""
    return Call(
        "GET",
        path(_VALUE, a=account_id, f=feature_id),
        GetEntitlementValuesResponse,
        idempotent=True,
    )


def _get_entitlements(account_id: str) -> Call[GetEntitlementValuesResponse]:
    """`GET /accounts/{account_id}/entitlements`: every feature the account holds."""
    return Call(
        "GET",
        path("/accounts/{a}/entitlements", a=account_id),
        GetEntitlementValuesResponse,
        idempotent=True,
    )


def _validate_entitlement_value(
    account_id: str,
    feature_id: str,
    validate_entitlement_value_request: ValidateEntitlementValueRequest | Body | None = None,
) -> Call[BaseSuccessResponse]:
    """`POST /accounts/{account_id}/entitlements/{feature_id}`: `success` says yes or no."""
    # A check that consumes nothing: safe to repeat.
    request = coerce(ValidateEntitlementValueRequest, validate_entitlement_value_request)
    return Call(
        "POST",
        path(_VALUE, a=account_id, f=feature_id),
        BaseSuccessResponse,
        body=body_of(request),
        json_body=True,
        idempotent=True,
    )


def _set_entitlement_value(
    account_id: str,
    feature_id: str,
    set_entitlement_value_request: SetEntitlementValueRequest | Body,
) -> Call[GetEntitlementValuesResponse]:
    """`PUT /accounts/{account_id}/entitlements/{feature_id}` (extension): set the value."""
    request = coerce(SetEntitlementValueRequest, set_entitlement_value_request)
    return Call(
        "PUT",
        path(_VALUE, a=account_id, f=feature_id),
        GetEntitlementValuesResponse,
        body=body_of(request),
        json_body=True,
        idempotent=True,
    )


def _get_feature_credits(
    account_id: str, feature_id: str, as_of: datetime | None = None
) -> Call[GetFeatureCreditsResponse]:
    """`GET /accounts/{account_id}/features/{feature_id}`: granted, balance, overage."""
    return Call(
        "GET",
        path("/accounts/{a}/features/{f}", a=account_id, f=feature_id),
        GetFeatureCreditsResponse,
        query=query(asOf=as_of),
        idempotent=True,
    )


def _entries_page(
    next_token: str | None, account_id: str, feature_id: str, page_size: int | None = None
) -> Call[GetFeatureCreditEntriesPaginatedResponse]:
    return Call(
        "GET",
        path(_ENTRIES, a=account_id, f=feature_id),
        GetFeatureCreditEntriesPaginatedResponse,
        query=query(pageSize=page_size, nextToken=next_token),
        idempotent=True,
    )


def _list_feature_credit_entries(
    account_id: str, feature_id: str, page_size: int | None = None, next_token: str | None = None
) -> Call[GetFeatureCreditEntriesPaginatedResponse]:
    """`GET …/features/{feature_id}/entries`: one page of the account's entries."""
    return _entries_page(next_token, account_id, feature_id, page_size)


def _create_feature_credit_entry(
    account_id: str,
    feature_id: str,
    create_feature_credit_entry_request: CreateFeatureCreditEntryRequest | Body,
) -> Call[FeatureCreditEntry]:
    """`POST …/features/{feature_id}/entries` (extension): grant feature credits directly.

    Retried on 429/503 only with an `idempotency_key`.
    """
    request = coerce(CreateFeatureCreditEntryRequest, create_feature_credit_entry_request)
    return Call(
        "POST",
        path(_ENTRIES, a=account_id, f=feature_id),
        FeatureCreditEntry,
        body=body_of(request),
        json_body=True,
        idempotent=request is not None and request.idempotency_key is not None,
    )


def _update_feature_credit_entry(
    account_id: str,
    feature_id: str,
    entry_id: str,
    update_feature_credits_request: UpdateFeatureCreditsRequest | Body | None = None,
) -> Call[FeatureCreditEntry]:
    """`PATCH …/entries/{entry_id}`: a new `effective_until` (future) and/or `granted`."""
    # Sets absolute values: repeating it changes nothing more.
    request = coerce(UpdateFeatureCreditsRequest, update_feature_credits_request)
    return Call(
        "PATCH",
        path(_ENTRIES + "/{e}", a=account_id, f=feature_id, e=entry_id),
        FeatureCreditEntry,
        body=body_of(request),
        json_body=True,
        idempotent=True,
    )


def _void_feature_credit_entry(
    account_id: str, feature_id: str, entry_id: str
) -> Call[BaseSuccessResponse]:
    """`POST …/entries/{entry_id}/void`: its remainder can no longer be used."""
    return Call(
        "POST",
        path(_ENTRIES + "/{e}/void", a=account_id, f=feature_id, e=entry_id),
        BaseSuccessResponse,
        idempotent=True,
    )


def _ingest_entitled_event(
    ingest_event_request: IngestEventRequest | Body | None = None,
) -> Call[BaseSuccessResponse]:
    """`POST /entitled`: record the event only if every feature it uses can cover it.

    Not covered → `ForbiddenException` (nothing written); a repeated event id →
    `ConflictException`. Retried on 429/503 only when the event has an `id`.
    """
    request = coerce(IngestEventRequest, ingest_event_request)
    keyed = request is not None and request.event is not None and bool(request.event.id)
    return Call(
        "POST",
        "/entitled",
        BaseSuccessResponse,
        body=body_of(request),
        json_body=True,
        idempotent=keyed,
    )


class EntitlementsApi(Api[C]):
    """Entitlement values, feature credit balances and entries, and the `/entitled` gate."""

    get_entitlement_value = operation(_get_entitlement_value)
    get_entitlements = operation(_get_entitlements)
    validate_entitlement_value = operation(_validate_entitlement_value)
    set_entitlement_value = operation(_set_entitlement_value)
    get_feature_credits = operation(_get_feature_credits)
    list_feature_credit_entries = operation(_list_feature_credit_entries)
    iter_feature_credit_entries = pager(_entries_page)
    create_feature_credit_entry = operation(_create_feature_credit_entry)
    update_feature_credit_entry = operation(_update_feature_credit_entry)
    void_feature_credit_entry = operation(_void_feature_credit_entry)
    ingest_entitled_event = operation(_ingest_entitled_event)
