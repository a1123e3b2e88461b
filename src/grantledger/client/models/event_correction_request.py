"""`EventCorrectionRequest` under the module name the Togai client uses."""

from grantledger.client.models.event_management import EventCorrectionRequest

__all__ = ["EventCorrectionRequest"]
