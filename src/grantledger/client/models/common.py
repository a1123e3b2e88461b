"""Shapes shared by several resources."""

from __future__ import annotations

from typing import Literal

from grantledger.client.exceptions import ErrorResponse
from grantledger.client.models._base import ApiModel

__all__ = [
    "Address",
    "BaseSuccessResponse",
    "CreateEntitySetting",
    "ErrorResponse",
    "PaginationOptions",
]


class BaseSuccessResponse(ApiModel):
    success: bool


class PaginationOptions(ApiModel):
    page_size: int | None = None
    sort_order: str | None = None


class Address(ApiModel):
    phone_number: str | None = None
    line1: str | None = None
    line2: str | None = None
    postal_code: str | None = None
    city: str | None = None
    state: str | None = None
    country: str | None = None  # ISO-3166-1 alpha-2


class CreateEntitySetting(ApiModel):
    id: str
    value: str
    namespace: str
    name: str
    data_type: Literal["STRING", "NUMERIC", "JSON", "JSON_LOGIC"] | str
