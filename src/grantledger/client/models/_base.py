"""The model base: snake_case attributes, camelCase on the wire, Togai's helper methods."""

from __future__ import annotations

import pprint
from collections.abc import Mapping
from typing import Any, Self, overload

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from grantledger.client._json import dumps, loads

__all__ = ["ApiModel", "RequestBody"]


class ApiModel(BaseModel):
    """Every model: build it with snake_case names (or camelCase ones), read snake_case.

    Unknown fields in answers are ignored, so a newer server does not break an older client.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        validate_assignment=True,
        protected_namespaces=(),
        extra="ignore",
    )

    def to_dict(self) -> dict[str, Any]:
        """The wire dict: camelCase keys, unset optional fields left out, Decimals kept."""
        return self.model_dump(by_alias=True, exclude_none=True)

    def to_json(self) -> str:
        """The wire JSON, amounts written digit for digit."""
        return dumps(self.to_dict())

    def to_str(self) -> str:
        return pprint.pformat(self.model_dump(by_alias=True))

    @overload
    @classmethod
    def from_dict(cls, obj: None) -> None: ...

    @overload
    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> Self: ...

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any] | None) -> Self | None:
        """Build from a wire dict (camelCase or snake_case keys); None gives None."""
        if obj is None:
            return None
        return cls.model_validate(dict(obj))

    @classmethod
    def from_json(cls, json_str: str | bytes) -> Self:
        """Build from wire JSON; numbers are read as Decimal, never through float."""
        return cls.model_validate(loads(json_str))


class RequestBody(ApiModel):
    """Request bodies refuse unknown fields, so a misspelt name fails here, not silently."""

    model_config = ConfigDict(extra="forbid")
