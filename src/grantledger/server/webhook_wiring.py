"""What the API layer gives the notifications at start: wire renderers, key, URL policy, worker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import date

from fastapi import FastAPI

from grantledger.api.jsonio import dumps
from grantledger.api.routers import alerts, webhooks
from grantledger.api.schemas.alerts import IncidentOut
from grantledger.api.schemas.credits import CreditOut, HoldOut
from grantledger.api.schemas.events import EventOut
from grantledger.api.schemas.feature_holds import FeatureHoldOut
from grantledger.api.wire import dump
from grantledger.config import WebhookSettings
from grantledger.service.context import Context
from grantledger.service.credits.holds import HoldView
from grantledger.service.entitlements.feature_holds import FeatureHoldView
from grantledger.service.notifications import outbox
from grantledger.service.notifications.delivery import Worker
from grantledger.service.notifications.sealing import load_server_key
from grantledger.service.notifications.webhooks import UrlPolicy
from grantledger.store.credits.credits import CreditRecord
from grantledger.store.entitlements.event_log import EventLogRecord
from grantledger.store.entitlements.feature_holds import FeatureHoldRecord
from grantledger.store.notifications.alerts import IncidentRecord

ROUTERS = (alerts.router, webhooks.router)


def _credit(record: CreditRecord, today: date) -> str:
    return dumps(dump(CreditOut.of(record, today))).decode()


def _hold(hold: object, unit: str) -> str:
    return dumps(dump(HoldOut.of(HoldView(hold, unit)))).decode()  # type: ignore[arg-type]


def _incident(record: IncidentRecord) -> str:
    return dumps(dump(IncidentOut.of(record))).decode()


def _event(record: EventLogRecord) -> str:
    return dumps(dump(EventOut.of(record))).decode()


def _feature_hold(record: FeatureHoldRecord) -> str:
    return dumps(dump(FeatureHoldOut.of(FeatureHoldView(record, record.status)))).decode()


@contextlib.asynccontextmanager
async def webhooks_running(
    app: FastAPI, ctx: Context, settings: WebhookSettings
) -> AsyncIterator[None]:
    """Install the renderers, load the server key, run the delivery worker until shutdown."""
    outbox.install(
        outbox.Renderers(
            credit=_credit,
            hold=_hold,
            incident=_incident,
            event=_event,
            feature_hold=_feature_hold,
        )
    )
    key = load_server_key()
    app.state.webhook_key = key
    app.state.url_policy = UrlPolicy(settings.allow_private)
    worker = Worker(ctx, key, settings)
    task = asyncio.create_task(worker.run_forever()) if settings.enabled else None
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await worker.close()
