"""Shapes shared by several resources."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictBool, StrictInt, StrictStr

from grantledger.api.wire import RequestModel, ResponseModel

Id50 = Annotated[StrictStr, Field(min_length=1, max_length=50, pattern=r"\S")]
# A JSON integer that fits the 32-bit field Togai declares: larger ones would be stored and then
# fail to serialise on every later read of the resource.
Int32 = Annotated[StrictInt, Field(ge=-(2**31), le=2**31 - 1)]


class Address(RequestModel):
    phone_number: StrictStr | None = None
    line1: StrictStr | None = None
    line2: StrictStr | None = None
    postal_code: StrictStr | None = None
    city: StrictStr | None = None
    state: StrictStr | None = None
    country: StrictStr | None = None


class EntitySetting(RequestModel):
    id: StrictStr
    value: StrictStr
    namespace: StrictStr
    name: StrictStr
    data_type: Literal["STRING", "NUMERIC", "JSON", "JSON_LOGIC"]


class PaginationOptions(ResponseModel):
    page_size: int | None = None
    sort_order: Literal["ASC", "DESC"] | None = None


class SuccessResponse(ResponseModel):
    success: bool


class ErrorResponse(ResponseModel):
    message: str


__all__ = [
    "Address",
    "EntitySetting",
    "ErrorResponse",
    "Id50",
    "Int32",
    "PaginationOptions",
    "StrictBool",
    "StrictInt",
    "SuccessResponse",
]
