"""`EventWithStatus` under the module name the Togai client uses."""

from grantledger.client.models.event_management import EventWithStatus

__all__ = ["EventWithStatus"]
