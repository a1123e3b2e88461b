"""Webhook endpoints, their deliveries, and auto top-up on the wire (grantledger extensions)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, cast

from pydantic import Field, StrictStr

from grantledger.api.schemas.common import Int32
from grantledger.api.wire import (
    Amount,
    NonNegativeAmount,
    PositiveAmount,
    RequestModel,
    ResponseModel,
)
from grantledger.service.notifications.topup import TopupSetting
from grantledger.service.notifications.webhooks import EndpointChange, EndpointInput
from grantledger.store.notifications.auto_topups import TopupRecord
from grantledger.store.notifications.outbox import MessageRecord
from grantledger.store.notifications.webhooks import EndpointRecord

Url = Annotated[StrictStr, Field(min_length=1, max_length=2048)]
EventTypes = Annotated[list[Annotated[StrictStr, Field(max_length=50)]], Field(max_length=20)]
Text255 = Annotated[StrictStr, Field(max_length=255)]
EndpointStatus = Literal["ACTIVE", "INACTIVE"]
DeliveryStatus = Literal["PENDING", "DELIVERED", "FAILED"]


class CreateEndpointRequest(RequestModel):
    url: Url
    event_types: EventTypes | None = None
    description: Text255 | None = None

    def to_input(self) -> EndpointInput:
        types = tuple(self.event_types) if self.event_types is not None else None
        return EndpointInput(self.url, types, self.description)


class UpdateEndpointRequest(RequestModel):
    url: Url | None = None
    event_types: EventTypes | None = None
    status: EndpointStatus | None = None
    description: Text255 | None = None

    def to_change(self) -> EndpointChange:
        types = tuple(self.event_types) if self.event_types is not None else None
        return EndpointChange(self.url, types, self.status, self.description)


class EndpointOut(ResponseModel):
    id: str
    url: str
    description: str | None = None
    event_types: list[str] | None = None
    status: EndpointStatus
    created_at: datetime
    updated_at: datetime
    secret: str | None = None  # on create and rotate_secret only

    @classmethod
    def of(cls, r: EndpointRecord, secret: str | None = None) -> EndpointOut:
        return cls(
            id=r.id,
            url=r.url,
            description=r.description,
            event_types=r.event_types,
            # The stored text is one of these; pydantic checks it as the model is built.
            status=cast(EndpointStatus, r.status),
            created_at=r.created_at,
            updated_at=r.updated_at,
            secret=secret,
        )


class EndpointPage(ResponseModel):
    data: list[EndpointOut]
    next_token: str | None = None


class DeliveryOut(ResponseModel):
    id: str
    event_type: str
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None = None
    last_attempt_at: datetime | None = None
    next_attempt_at: datetime | None = None
    created_at: datetime

    @classmethod
    def of(cls, m: MessageRecord) -> DeliveryOut:
        return cls(
            id=m.id,
            event_type=m.event_type,
            status=cast(DeliveryStatus, m.status),
            attempts=m.attempts,
            last_status_code=m.last_status_code,
            last_attempt_at=m.last_attempt_at,
            # A settled message has no next attempt (the lease time is internal).
            next_attempt_at=m.next_attempt_at if m.status == "PENDING" else None,
            created_at=m.created_at,
        )


class DeliveryPage(ResponseModel):
    data: list[DeliveryOut]
    next_token: str | None = None


class AutoTopupRequest(RequestModel):
    threshold_amount: NonNegativeAmount
    topup_amount: PositiveAmount
    max_per_month: Annotated[Int32, Field(ge=1, le=1000)]
    effective_days: Annotated[Int32, Field(ge=1, le=36500)] | None = None
    priority: Annotated[Int32, Field(ge=0)] = 1
    # The cost basis of the credits it grants (per unit; 0: free); absent: not known.
    cost_basis: NonNegativeAmount | None = None

    def to_setting(self) -> TopupSetting:
        return TopupSetting(
            threshold_amount=self.threshold_amount,
            topup_amount=self.topup_amount,
            max_per_month=self.max_per_month,
            effective_days=self.effective_days,
            priority=self.priority,
            cost_basis=self.cost_basis,
        )


class AutoTopupOut(ResponseModel):
    account_id: str
    threshold_amount: Amount
    topup_amount: Amount
    max_per_month: int
    effective_days: int | None = None
    priority: int
    topups_this_month: int
    created_at: datetime
    updated_at: datetime
    cost_basis: Amount | None = None

    @classmethod
    def of(cls, r: TopupRecord, month: str) -> AutoTopupOut:
        return cls(
            account_id=r.account_id,
            threshold_amount=r.threshold_amount,
            topup_amount=r.topup_amount,
            max_per_month=r.max_per_month,
            effective_days=r.effective_days,
            priority=r.priority,
            topups_this_month=r.month_count if r.month == month else 0,
            created_at=r.created_at,
            updated_at=r.updated_at,
            cost_basis=r.cost_basis,
        )
