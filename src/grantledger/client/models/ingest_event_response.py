"""`IngestEventResponse` under the module name the Togai client uses."""

from grantledger.client.models.event_management import IngestEventResponse

__all__ = ["IngestEventResponse"]
