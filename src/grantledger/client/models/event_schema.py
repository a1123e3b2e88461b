"""`EventSchema` under the module name the Togai client uses."""

from grantledger.client.models.events import EventSchema

__all__ = ["EventSchema"]
