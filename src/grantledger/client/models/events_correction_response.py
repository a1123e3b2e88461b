"""`EventsCorrectionResponse` under the module name the Togai client uses."""

from grantledger.client.models.event_management import EventsCorrectionResponse

__all__ = ["EventsCorrectionResponse"]
