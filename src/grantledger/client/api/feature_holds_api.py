"""`FeatureHoldsApi` (extension): reserve feature units for work whose cost is known only after
it runs, then settle with what was really used, or release; and `reserve`, the same as a
context manager that gives the units back when the block raises or ends without a settle."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from types import TracebackType
from typing import Any, Self

from grantledger.client._core import Call, body_of, coerce, path, query
from grantledger.client.api._base import Api, Body, C, operation, pager
from grantledger.client.api_client import ApiClient, AsyncApiClient
from grantledger.client.models.feature_holds import (
    CreateFeatureHoldRequest,
    FeatureHold,
    FeatureHoldPaginatedResponse,
    FeatureUnits,
    SettleFeatureHoldRequest,
)
from grantledger.client.rest import ApiException

__all__ = ["AsyncReservation", "FeatureHoldsApi", "Reservation", "iso_duration"]

_HOLDS = "/accounts/{a}/feature_holds"
_HOLD = _HOLDS + "/{h}"
Units = Mapping[str, Decimal | int | str]


def _create_feature_hold(
    account_id: str, create_feature_hold_request: CreateFeatureHoldRequest | Body
) -> Call[FeatureHold]:
    """`POST /accounts/{account_id}/feature_holds`: hold every feature's units, or none."""
    # The hold id keys it: a repeat with the same body returns the first answer (201).
    return Call(
        "POST",
        path(_HOLDS, a=account_id),
        FeatureHold,
        body=body_of(coerce(CreateFeatureHoldRequest, create_feature_hold_request)),
        json_body=True,
        idempotent=True,
    )


def _settle_feature_hold(
    account_id: str, hold_id: str, settle_feature_hold_request: SettleFeatureHoldRequest | Body
) -> Call[FeatureHold]:
    """`POST …/feature_holds/{hold_id}/settle`: draw the units really used."""
    # The same settlement again answers the hold: safe to repeat.
    return Call(
        "POST",
        path(_HOLD + "/settle", a=account_id, h=hold_id),
        FeatureHold,
        body=body_of(coerce(SettleFeatureHoldRequest, settle_feature_hold_request)),
        json_body=True,
        idempotent=True,
    )


def _release_feature_hold(account_id: str, hold_id: str) -> Call[FeatureHold]:
    """`POST …/feature_holds/{hold_id}/release`: every held unit goes back."""
    return Call(
        "POST", path(_HOLD + "/release", a=account_id, h=hold_id), FeatureHold, idempotent=True
    )


def _get_feature_hold(account_id: str, hold_id: str) -> Call[FeatureHold]:
    """`GET /accounts/{account_id}/feature_holds/{hold_id}`."""
    return Call("GET", path(_HOLD, a=account_id, h=hold_id), FeatureHold, idempotent=True)


def _holds_page(
    next_token: str | None, account_id: str, status: str | None = None, page_size: int | None = None
) -> Call[FeatureHoldPaginatedResponse]:
    return Call(
        "GET",
        path(_HOLDS, a=account_id),
        FeatureHoldPaginatedResponse,
        query=query(status=status, nextToken=next_token, pageSize=page_size),
        idempotent=True,
    )


def _list_feature_holds(
    account_id: str,
    status: str | None = None,
    next_token: str | None = None,
    page_size: int | None = None,
) -> Call[FeatureHoldPaginatedResponse]:
    """`GET /accounts/{account_id}/feature_holds`: one page, newest first."""
    return _holds_page(next_token, account_id, status, page_size)


def iso_duration(limit: timedelta) -> str:
    """`timedelta(minutes=5)` as the wire's ISO-8601 duration (`PT300S`)."""
    micros = limit // timedelta(microseconds=1)
    whole, fraction = divmod(micros, 1_000_000)
    return f"PT{whole}.{fraction:06d}S" if fraction else f"PT{whole}S"


def _lines(units: Units) -> list[FeatureUnits]:
    return [FeatureUnits(feature_id=f, units=Decimal(str(u))) for f, u in units.items()]


class _Reservation:
    def __init__(
        self,
        api: FeatureHoldsApi[Any],
        account_id: str,
        units: Units,
        expires_in: timedelta | None,
        hold_id: str | None,
    ) -> None:
        self._api = api
        self.account_id = account_id
        # Made once, here: a retried create sends the same id and gets the same hold back.
        self.hold_id = hold_id or "res-" + secrets.token_hex(12)
        self._request = CreateFeatureHoldRequest(
            id=self.hold_id,
            features=_lines(units),
            expires_in=iso_duration(expires_in) if expires_in is not None else None,
        )
        self.hold: FeatureHold | None = None
        self.closed = False


class Reservation(_Reservation):
    """`with holds.reserve(...) as r: …; r.settle({...})` over an `ApiClient`."""

    def __enter__(self) -> Self:
        self.hold = self._api.api_client.call(_create_feature_hold(self.account_id, self._request))
        return self

    def settle(self, used: Units) -> FeatureHold:
        request = SettleFeatureHoldRequest(features=_lines(used))
        self.hold = self._api.api_client.call(
            _settle_feature_hold(self.account_id, self.hold_id, request)
        )
        self.closed = True
        return self.hold

    def release(self) -> FeatureHold:
        self.hold = self._api.api_client.call(_release_feature_hold(self.account_id, self.hold_id))
        self.closed = True
        return self.hold

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.closed:
            return
        if kind is None:
            self.release()
            return
        # The block's own error matters more than a failed release: the hold expires anyway.
        with contextlib.suppress(ApiException, OSError):
            self.release()


class AsyncReservation(_Reservation):
    """`async with holds.reserve(...) as r: …; await r.settle({...})` over an `AsyncApiClient`."""

    async def __aenter__(self) -> Self:
        self.hold = await self._api.api_client.call(
            _create_feature_hold(self.account_id, self._request)
        )
        return self

    async def settle(self, used: Units) -> FeatureHold:
        request = SettleFeatureHoldRequest(features=_lines(used))
        self.hold = await self._api.api_client.call(
            _settle_feature_hold(self.account_id, self.hold_id, request)
        )
        self.closed = True
        return self.hold

    async def release(self) -> FeatureHold:
        self.hold = await self._api.api_client.call(
            _release_feature_hold(self.account_id, self.hold_id)
        )
        self.closed = True
        return self.hold

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.closed:
            return
        if kind is None:
            await self.release()
            return
        # The block's own error matters more than a failed release: the hold expires anyway.
        with contextlib.suppress(ApiException, OSError):
            await self.release()


class FeatureHoldsApi(Api[C]):
    """Reserve, then settle: feature units held for a bounded time."""

    create_feature_hold = operation(_create_feature_hold)
    settle_feature_hold = operation(_settle_feature_hold)
    release_feature_hold = operation(_release_feature_hold)
    get_feature_hold = operation(_get_feature_hold)
    list_feature_holds = operation(_list_feature_holds)
    iter_feature_holds = pager(_holds_page)

    def reserve(
        self,
        account_id: str,
        units: Units,
        *,
        expires_in: timedelta | None = None,
        hold_id: str | None = None,
    ) -> Any:
        """A `Reservation` (an `AsyncReservation` over an `AsyncApiClient`): entering holds the
        units (403 `ApiException` when not covered); `settle(used)` draws what was really
        used; leaving without a settle, or by an exception, releases them."""
        if isinstance(self.api_client, AsyncApiClient):
            return AsyncReservation(self, account_id, units, expires_in, hold_id)
        assert isinstance(self.api_client, ApiClient)
        return Reservation(self, account_id, units, expires_in, hold_id)
