"""`GetEventsResponse` under the module name the Togai client uses."""

from grantledger.client.models.event_management import GetEventsResponse

__all__ = ["GetEventsResponse"]
