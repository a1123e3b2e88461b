"""Alerts, alert templates and incidents on the wire (Togai's Alerts API)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, PlainValidator, StrictStr, WithJsonSchema

from grantledger.api.schemas.common import Int32
from grantledger.api.wire import RequestModel, ResponseModel
from grantledger.domain import alerts as rules
from grantledger.domain.alerts import AlertStatus, IncidentStatus, Template
from grantledger.domain.money import MAX_INTEGER_DIGITS
from grantledger.domain.passthrough import JsonObject
from grantledger.service.notifications.alerts import AlertChange, AlertInput, condition_of
from grantledger.store.notifications.alerts import AlertRecord, IncidentRecord

Text255 = Annotated[StrictStr, Field(max_length=255)]
Minutes = Annotated[Int32, Field(ge=0)]
Status = Literal["ACTIVE", "INACTIVE"]

# The limits of the details maps (docs/api.md, "Limits"): `{name: {key: value}}`, one level.
MAX_DETAILS = 10
MAX_DETAIL_KEYS = 20
MAX_DETAIL_TEXT = 1000
_WHOLE = 10**MAX_INTEGER_DIGITS
_TOO_LONG = f"numbers must have at most {MAX_INTEGER_DIGITS} digits"
_SCALARS = "text, a number, true, false or null (one level: {name: {key: value}})"


def _value(value: object) -> object:
    """A value of `entityDetails` or `parameters`: the domain reads what it needs from them
    (checking amounts and days itself), so any JSON number passes here."""
    if value is None or isinstance(value, bool | int | Decimal):
        return value
    if isinstance(value, str):
        if len(value) > MAX_DETAIL_TEXT:
            raise ValueError(f"text must be at most {MAX_DETAIL_TEXT} characters")
        return value
    raise ValueError(f"must be {_SCALARS}")


def _owner_value(value: object) -> object:
    """A value of `ownerDetails`, stored and shown as sent: numbers must be whole and within
    18 digits, since a JSON column holds no exact fraction and a longer integer (or a tiny
    `1E+999999`) would grow into an answer no client can read."""
    checked = _value(value)
    if isinstance(checked, Decimal):
        if not checked.is_finite() or checked != checked.to_integral_value():
            raise ValueError("numbers must be whole (send a fraction as text)")
        # The size first: int() of a huge exponent takes seconds.
        if checked and checked.adjusted() >= MAX_INTEGER_DIGITS:
            raise ValueError(_TOO_LONG)
        checked = int(checked)
    if isinstance(checked, int) and not isinstance(checked, bool) and abs(checked) >= _WHOLE:
        raise ValueError(_TOO_LONG)
    return checked


_VALUE_SCHEMA = {
    "anyOf": [
        {"type": "string", "maxLength": MAX_DETAIL_TEXT},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "null"},
    ]
}
Value = Annotated[object, PlainValidator(_value), WithJsonSchema(_VALUE_SCHEMA)]
OwnerValue = Annotated[object, PlainValidator(_owner_value), WithJsonSchema(_VALUE_SCHEMA)]
Key = Annotated[StrictStr, Field(max_length=255)]
Details = Annotated[
    dict[Key, Annotated[dict[Key, Value], Field(max_length=MAX_DETAIL_KEYS)]],
    Field(max_length=MAX_DETAILS),
]
OwnerDetails = Annotated[
    dict[Key, Annotated[dict[Key, OwnerValue], Field(max_length=MAX_DETAIL_KEYS)]],
    Field(max_length=MAX_DETAILS),
]


class CreateAlertRequest(RequestModel):
    alert_template_id: Annotated[StrictStr, Field(min_length=1, max_length=50)]
    interval: Minutes
    status: Status
    validity: Minutes | None = None
    description: Text255 | None = None
    entity_details: Details | None = None
    owner_details: OwnerDetails | None = None
    parameters: Details | None = None

    def to_input(self) -> AlertInput:
        return AlertInput(
            template_id=self.alert_template_id,
            interval=self.interval,
            status=AlertStatus(self.status),
            validity=self.validity,
            description=self.description,
            entity_details=self.entity_details,
            owner_details=self.owner_details,
            parameters=self.parameters,
        )


class UpdateAlertRequest(RequestModel):
    description: Text255 | None = None
    status: Status | None = None
    interval: Minutes | None = None
    validity: Minutes | None = None
    parameters: Details | None = None

    def to_change(self) -> AlertChange:
        return AlertChange(
            description=self.description,
            status=AlertStatus(self.status) if self.status else None,
            interval=self.interval,
            validity=self.validity,
            parameters=self.parameters,
        )


class UpdateIncidentStatusRequest(RequestModel):
    status: Literal["CLOSED"]


class AlertOut(ResponseModel):
    id: str
    version: int
    description: str | None = None
    status: Status
    validity: int | None = None
    alert_template_id: str
    interval: int
    entity_details: dict[str, JsonObject]
    owner_details: dict[str, JsonObject] | None = None
    parameters: dict[str, JsonObject]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, r: AlertRecord) -> AlertOut:
        condition = condition_of(r)
        return cls(
            id=r.id,
            version=r.version,
            description=r.description,
            status=AlertStatus(r.status).value,
            validity=r.validity,
            alert_template_id=r.template_id,
            interval=r.interval,
            entity_details=rules.wire_entity_details(condition),
            owner_details=r.owner_details,
            parameters=rules.wire_parameters(condition),
            created_at=r.created_at,
            updated_at=r.updated_at,
        )


class AlertPage(ResponseModel):
    data: list[AlertOut]
    next_token: str | None = None


class AlertTemplateOut(ResponseModel):
    id: str
    name: str
    description: str
    interval: int
    entity_schema: str
    entity_type: str
    parameters_schema: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, t: Template) -> AlertTemplateOut:
        return cls(
            id=t.id,
            name=t.name,
            description=t.description,
            # Evaluation is on every ledger change, not on a cron: 0 says so.
            interval=0,
            entity_schema=t.entity_schema,
            entity_type=t.entity_type,
            parameters_schema=t.parameters_schema,
            created_at=rules.TEMPLATES_CREATED_AT,
            updated_at=rules.TEMPLATES_CREATED_AT,
        )


class AlertTemplatePage(ResponseModel):
    data: list[AlertTemplateOut]
    next_token: str | None = None


class IncidentOut(ResponseModel):
    id: str
    alert_id: str
    alert_version: int
    alert_template_id: str
    valid_until: datetime | None = None
    report_data: dict[str, JsonObject]
    status: Literal["OPEN", "RESOLVED", "CLOSED"]
    last_checked_at: datetime
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, r: IncidentRecord) -> IncidentOut:
        return cls(
            id=r.id,
            alert_id=r.alert_id,
            alert_version=r.alert_version,
            alert_template_id=r.template_id,
            valid_until=r.valid_until,
            report_data=r.report_data,
            status=IncidentStatus(r.status).value,
            last_checked_at=r.last_checked_at,
            created_at=r.created_at,
            updated_at=r.updated_at,
        )


class IncidentPage(ResponseModel):
    data: list[IncidentOut]
    next_token: str | None = None
