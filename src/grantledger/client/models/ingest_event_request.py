"""`IngestEventRequest` under the module name the Togai client uses."""

from grantledger.client.models.events import IngestEventRequest

__all__ = ["IngestEventRequest"]
