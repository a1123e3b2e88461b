"""The real-time gate: accept an event only if every feature it consumes is covered."""

from __future__ import annotations

from grantledger.domain.cycles import check_reach
from grantledger.domain.gate import named_attributes
from grantledger.service.context import Tenant
from grantledger.service.entitlements import group_commit
from grantledger.service.entitlements.event_input import EventInput
from grantledger.service.entitlements.gate_batch import Received

__all__ = ["EventInput", "ingest_entitled"]


async def ingest_entitled(tenant: Tenant, event: EventInput) -> None:
    """Accept and draw, all in one transaction, or refuse (403) having drawn nothing.

    The event is decided together with the others this process receives meanwhile
    (`group_commit`), each with its own outcome. A refused event is still recorded, and that
    record commits: the 403 is raised only once the transaction has ended. A duplicate id
    answers 409 saying how the original was decided.
    """
    check_reach(event.timestamp, tenant.now(), "event timestamp")
    received = Received(
        event, event.id or tenant.new_id("event"), named_attributes(event.attributes)
    )
    outcome = await group_commit.submit(tenant, received)
    if outcome is not None:
        raise outcome
