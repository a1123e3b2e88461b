"""The outbox backlog on each `/metrics` scrape: read once per scrape, never waited on long.

Only the gauges an operator alerts on: how overdue the most overdue PENDING webhook message is,
and how many messages gave up (FAILED). They are read from the database by the worker that
answers the scrape (the backlog is shared by every process), in one snapshot of two index
lookups, and written as a separate block of the exposition: nothing is kept between scrapes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from grantledger.service.context import Context
from grantledger.service.notifications import outbox
from grantledger.store.notifications.outbox import BacklogRecord

# How long a scrape waits for the read; past it the scrape answers without the two gauges.
BACKLOG_WAIT = 0.8  # float-ok: seconds


class BacklogProbe:
    """At most one backlog read in flight per process, however often `/metrics` is scraped.

    A read is never cancelled (cancelling a query mid-flight could leave its connection
    unusable); a scrape that finds one in flight waits for it, up to BACKLOG_WAIT, and one
    older than that is replaced (the statement timeout ends it)."""

    def __init__(self) -> None:
        self._task: asyncio.Task[BacklogRecord] | None = None
        self._started = 0.0  # float-ok: a monotonic instant
        self._running: set[asyncio.Task[BacklogRecord]] = set()

    async def read(self, ctx: Context) -> BacklogRecord | None:
        now = time.monotonic()
        task = self._task
        if task is None or task.done() or now - self._started > BACKLOG_WAIT:
            task = self._task = asyncio.create_task(outbox.backlog(ctx))
            self._started = now
            self._running.add(task)
            task.add_done_callback(_settled(self._running))
        done, _ = await asyncio.wait({task}, timeout=BACKLOG_WAIT)
        if task not in done or task.cancelled() or task.exception() is not None:
            return None
        return task.result()


def _settled(
    running: set[asyncio.Task[BacklogRecord]],
) -> Callable[[asyncio.Task[BacklogRecord]], None]:
    def forget(task: asyncio.Task[BacklogRecord]) -> None:
        running.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a failed read is reported as a 0, not logged as lost

    return forget


class BacklogMetrics:
    """A collector for one scrape's exposition (no shared state, no multiprocess files)."""

    def __init__(self, found: BacklogRecord | None) -> None:
        self.found = found

    def collect(self) -> Iterator[Metric]:
        found = self.found
        yield GaugeMetricFamily(
            "grantledger_outbox_read_success",
            "1 if this scrape read the webhook outbox in time, else 0 (the two outbox gauges "
            "are then left out)",
            value=1 if found is not None else 0,
        )
        if found is None:
            return
        lag = 0.0  # float-ok: seconds
        if found.oldest_due is not None:
            lag = max(0.0, (outbox.REAL_TIME.now() - found.oldest_due).total_seconds())
        yield GaugeMetricFamily(
            "grantledger_outbox_oldest_due_seconds",
            "Seconds the most overdue PENDING webhook message has been due (0: none is due)",
            value=lag,
        )
        yield GaugeMetricFamily(
            "grantledger_outbox_failed_messages",
            f"Webhook messages FAILED after every retry (counted up to {outbox.FAILED_CAP})",
            value=found.failed,
        )
