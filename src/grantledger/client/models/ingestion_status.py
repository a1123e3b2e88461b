"""`IngestionStatus` under the module name the Togai client uses."""

from grantledger.client.models.event_management import IngestionStatus

__all__ = ["IngestionStatus"]
