"""`FeatureApi`: what accounts can be entitled to, and which events consume it."""

from __future__ import annotations

from grantledger.client._core import Call, body_of, coerce, path, query
from grantledger.client.api._base import Api, Body, C, operation, pager
from grantledger.client.models.features import (
    CreateFeatureRequest,
    Feature,
    FeaturePaginatedListData,
    UpdateFeatureRequest,
)

__all__ = ["FeatureApi"]


def _create_feature(create_feature_request: CreateFeatureRequest | Body) -> Call[Feature]:
    """`POST /features`."""
    return Call(
        "POST",
        "/features",
        Feature,
        body=body_of(coerce(CreateFeatureRequest, create_feature_request)),
        json_body=True,
    )


def _get_feature(feature_id: str) -> Call[Feature]:
    """`GET /features/{feature_id}`."""
    return Call("GET", path("/features/{f}", f=feature_id), Feature, idempotent=True)


def _get_features(
    next_token: str | None = None, page_size: int | None = None
) -> Call[FeaturePaginatedListData]:
    """`GET /features`: one page."""
    return Call(
        "GET",
        "/features",
        FeaturePaginatedListData,
        query=query(nextToken=next_token, pageSize=page_size),
        idempotent=True,
    )


def _update_feature(
    feature_id: str, update_feature_request: UpdateFeatureRequest | Body
) -> Call[Feature]:
    """`PATCH /features/{feature_id}`: name, billable name and/or event associations."""
    return Call(
        "PATCH",
        path("/features/{f}", f=feature_id),
        Feature,
        body=body_of(coerce(UpdateFeatureRequest, update_feature_request)),
        json_body=True,
        idempotent=True,
    )


class FeatureApi(Api[C]):
    create_feature = operation(_create_feature)
    get_feature = operation(_get_feature)
    get_features = operation(_get_features)
    iter_features = pager(_get_features)
    update_feature = operation(_update_feature)
