"""Feature holds on the wire (grantledger extension): reserve units, settle, release."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, StrictStr

from grantledger.api.schemas.common import Id50, NewKey255
from grantledger.api.wire import (
    Amount,
    NonNegativeAmount,
    PositiveAmount,
    RequestModel,
    ResponseModel,
)
from grantledger.domain.feature_holds import MAX_FEATURES, check_units, parse_expires_in
from grantledger.service.entitlements.feature_holds import FeatureHoldView, HoldPlacement


class HeldUnitsRequest(RequestModel):
    feature_id: Id50
    units: PositiveAmount


class UsedUnitsRequest(RequestModel):
    feature_id: Id50
    units: NonNegativeAmount


class FeatureHoldRequest(RequestModel):
    id: NewKey255
    features: Annotated[list[HeldUnitsRequest], Field(min_length=1, max_length=MAX_FEATURES)]
    # An ISO-8601 duration (PT15M), at most PT24H; 15 minutes when absent.
    expires_in: Annotated[StrictStr, Field(max_length=40)] | None = None

    def to_placement(self, account_id: str) -> HoldPlacement:
        units = check_units(
            [(f.feature_id, f.units) for f in self.features], field="features", positive=True
        )
        return HoldPlacement(account_id, self.id, units, parse_expires_in(self.expires_in))


class SettleRequest(RequestModel):
    features: Annotated[list[UsedUnitsRequest], Field(max_length=MAX_FEATURES)]

    def units(self) -> dict[str, Decimal]:
        return check_units(
            [(f.feature_id, f.units) for f in self.features], field="features", positive=False
        )


class HeldFeatureOut(ResponseModel):
    feature_id: str
    units: Amount  # held
    settled_units: Amount | None = None  # what was really used (settled holds)
    shortfall_units: Amount | None = None  # of those, what no entry could cover


class FeatureHoldOut(ResponseModel):
    id: str
    account_id: str
    status: Literal["HELD", "SETTLED", "RELEASED", "EXPIRED"]
    features: list[HeldFeatureOut]
    shortfall_units: Amount | None = None  # Σ over the features, when any
    created_at: datetime
    expires_at: datetime
    closed_at: datetime | None = None
    reference_id: str  # the hold event (its draws reserve the units)
    settlement_reference_id: str | None = None  # the settlement event in the events list

    @classmethod
    def of(cls, view: FeatureHoldView) -> FeatureHoldOut:
        hold = view.hold
        shortfall = hold.shortfall or {}
        closed = hold.closed_at
        if closed is None and view.status == "EXPIRED":
            closed = hold.expires_at  # expired at its limit, before the sweeper wrote it
        return cls(
            id=hold.hold_id,
            account_id=hold.account_id,
            status=view.status.value,
            features=[
                HeldFeatureOut(
                    feature_id=f,
                    units=units,
                    settled_units=hold.settled.get(f) if hold.settled is not None else None,
                    shortfall_units=shortfall.get(f),
                )
                for f, units in sorted(hold.units.items())
            ],
            shortfall_units=sum(shortfall.values(), Decimal(0)) if shortfall else None,
            created_at=hold.created_at,
            expires_at=hold.expires_at,
            closed_at=closed,
            reference_id=hold.event_pk,
            settlement_reference_id=hold.settle_event_pk,
        )


class FeatureHoldPage(ResponseModel):
    data: list[FeatureHoldOut]
    next_token: str | None = None
