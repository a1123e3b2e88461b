"""Fair shares of a busy server process between tenants.

Without this, requests are served in arrival order: a tenant sending hundreds of requests at
once fills the database pool and the event loop, and every other tenant's request queues behind
its backlog (one tenant at 370 req/s took another's p50 from 5 to 21 ms, its p99 from 37 to
126 ms). Here a process works on at most `limit` API requests at once (GRANTLEDGER_MAX_IN_FLIGHT,
by default its database connections), and one tenant on at most `share` of them
(GRANTLEDGER_TENANT_SHARE) while other tenants use it too: the rest of a flood waits here — holding
no connection and costing no CPU — and a freed slot goes to the tenant with the fewest requests
in flight, so a quiet tenant's request starts at once, beside a bounded number of the noisy
one's. A tenant no other has sent a request beside for `ALONE_AFTER` seconds uses every slot
but one (kept for another tenant's first request): a process serving one organization is not
held to a share of itself. A request that
waits longer than `wait` seconds is answered 503 with Retry-After. `POST /entitled` is not
counted: the gate already runs one transaction at a time per organization (group commit).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Receive, Scope, Send

from grantledger.api.errors import error_response

_GATE = "/entitled"
# A tenant is alone when no other tenant's request has arrived for this long.
ALONE_AFTER = 10.0  # float-ok: seconds


@dataclass
class _Waiter:
    org_id: str
    order: int  # arrival order: ties between tenants go to the longest waiting
    granted: asyncio.Future[None] = field(default_factory=asyncio.Future)


class Slots:
    """In-flight requests of this process, by tenant; waiters granted fairly."""

    def __init__(self, limit: int, share: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.share = max(1, min(share, limit))
        self.flying: Counter[str] = Counter()
        self.total = 0
        self.waiting: dict[str, deque[_Waiter]] = {}
        self._arrivals = itertools.count()
        self._clock = clock
        self._seen: dict[str, float] = {}  # tenant: when its last request arrived

    def _may_start(self, org_id: str) -> bool:
        if self.flying[org_id] < self.share:
            return self.total < self.limit
        # Past its share, a tenant no other has competed with lately uses every slot but one
        # (kept for another tenant's first request): a process serving one organization is
        # not held to a share of itself.
        return self._alone(org_id) and self.total < self.limit - self.reserve

    def _alone(self, org_id: str) -> bool:
        since = self._clock() - ALONE_AFTER
        for org in [o for o, at in self._seen.items() if at < since]:
            del self._seen[org]  # bounded by the tenants of the last ALONE_AFTER seconds
        return all(org == org_id for org in self._seen)

    @property
    def reserve(self) -> int:
        return 1 if self.limit > self.share else 0

    async def acquire(self, org_id: str, wait: float) -> bool:  # float-ok: seconds
        """True once the request may start; False when it waited `wait` s in vain."""
        self._seen[org_id] = self._clock()
        if self._may_start(org_id) and not self.waiting.get(org_id):
            self._start(org_id)
            return True
        waiter = _Waiter(org_id, next(self._arrivals))
        self.waiting.setdefault(org_id, deque()).append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter.granted), wait)
            return True
        except TimeoutError:
            if waiter.granted.done():  # granted just as the wait ran out: take it
                return True
            self._forget(waiter)
            return False
        except asyncio.CancelledError:
            if waiter.granted.done():
                self.release(org_id)  # granted, but its request is gone: pass the slot on
            else:
                self._forget(waiter)
            raise

    def _forget(self, waiter: _Waiter) -> None:
        queue = self.waiting.get(waiter.org_id)
        if queue is not None and waiter in queue:
            queue.remove(waiter)
            if not queue:
                del self.waiting[waiter.org_id]

    def _start(self, org_id: str) -> None:
        self.flying[org_id] += 1
        self.total += 1

    def release(self, org_id: str) -> None:
        self.flying[org_id] -= 1
        if self.flying[org_id] <= 0:
            del self.flying[org_id]
        self.total -= 1
        self._grant()

    def _grant(self) -> None:
        while self.total < self.limit:
            # Of the tenants under their share, the one with the fewest in flight (then the
            # one waiting longest) goes next.
            ready = [
                queue[0] for org, queue in self.waiting.items() if self.flying[org] < self.share
            ]
            if not ready and len(self.waiting) == 1:
                [alone] = self.waiting
                if self._may_start(alone):
                    ready = [self.waiting[alone][0]]
            if not ready:
                return
            chosen = min(ready, key=lambda w: (self.flying[w.org_id], w.order))
            queue = self.waiting[chosen.org_id]
            queue.popleft()
            if not queue:
                del self.waiting[chosen.org_id]
            self._start(chosen.org_id)
            chosen.granted.set_result(None)


class FairShares:
    """Pure ASGI middleware, inside the door (the tenant is known): a slot per request."""

    def __init__(self, app: ASGIApp, limit: int, share: int, wait: float) -> None:  # float-ok
        self.app = app
        self.slots = Slots(limit, share)
        self.wait = wait

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        org_id = (scope.get("state") or {}).get("org_id") if scope["type"] == "http" else None
        if org_id is None or (scope["path"] == _GATE and scope["method"] == "POST"):
            await self.app(scope, receive, send)
            return
        if not await self.slots.acquire(org_id, self.wait):
            response = error_response(
                503,
                f"the server is too busy to start this request within {self.wait:g} s "
                "(this organization has its share of it in progress); retry shortly",
                {"Retry-After": "1"},
            )
            await response(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.slots.release(org_id)
