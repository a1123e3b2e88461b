"""`GetEventResponse` under the module name the Togai client uses."""

from grantledger.client.models.event_management import GetEventResponse

__all__ = ["GetEventResponse"]
