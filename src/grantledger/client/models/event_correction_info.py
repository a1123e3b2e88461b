"""`EventCorrectionInfo` under the module name the Togai client uses."""

from grantledger.client.models.event_management import EventCorrectionInfo

__all__ = ["EventCorrectionInfo"]
