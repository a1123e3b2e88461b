"""Shapes shared by several resources."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StrictBool, StrictInt, StrictStr

from grantledger.api.wire import RequestModel, ResponseModel

Id50 = Annotated[StrictStr, Field(min_length=1, max_length=50, pattern=r"\S")]
Text255 = Annotated[StrictStr, Field(min_length=1, max_length=255)]

# The limits of every list and map a request may carry (docs/api.md, "Limits"). The 1 MiB body
# bound alone would still let 100k tags or 50k metadata keys be stored and echoed on every read.
MAX_TAGS = 100
MAX_METADATA = 100
MAX_EMAILS = 50
MAX_ITEMS = 50  # filterFields, enrichment fields and dependencies, event dimensions …


def _addressable(value: str) -> str:
    """An id the caller chooses is later sent back in a URL path, so it must survive one."""
    # `/` splits the path (even as %2F, which the server decodes before routing), `.` and `..`
    # are removed by URL normalisation in clients, and control characters are refused by
    # proxies and clients alike: such an id would be created and then never be reachable.
    if "/" in value:
        raise ValueError("must not contain '/' (it could never be addressed in a URL path)")
    if value in (".", ".."):
        raise ValueError(f"must not be {value!r} (it could never be addressed in a URL path)")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise ValueError("must not contain control characters")
    return value


_Addressable = AfterValidator(_addressable)
# A new id chosen by the caller (customer, account, feature, plan).
NewId = Annotated[Id50, _Addressable]
# An invoice id: chosen by the caller, then addressed in .../credit_holds/{invoice_id}/capture.
NewKey255 = Annotated[Text255, _Addressable]
# Free text kept as sent, bounded so no field can grow a stored row without limit.
Text = Annotated[StrictStr, Field(max_length=1000)]
# A JSON integer that fits the 32-bit field Togai declares: larger ones would be stored and then
# fail to serialise on every later read of the resource.
Int32 = Annotated[StrictInt, Field(ge=-(2**31), le=2**31 - 1)]


Short = Annotated[StrictStr, Field(max_length=255)]


class Address(RequestModel):
    phone_number: Short | None = None
    line1: Short | None = None
    line2: Short | None = None
    postal_code: Short | None = None
    city: Short | None = None
    state: Short | None = None
    country: Short | None = None


class EntitySetting(RequestModel):
    id: Short
    value: Text
    namespace: Short
    name: Short
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
    "NewId",
    "NewKey255",
    "PaginationOptions",
    "Short",
    "StrictBool",
    "StrictInt",
    "SuccessResponse",
    "Text",
    "Text255",
]
