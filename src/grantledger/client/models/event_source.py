"""`EventSource` under the module name the Togai client uses."""

from grantledger.client.models.event_management import EventSource

__all__ = ["EventSource"]
