"""`IngestBatchEventRequest` under the module name the Togai client uses."""

from grantledger.client.models.event_management import IngestBatchEventRequest

__all__ = ["IngestBatchEventRequest"]
