"""`EventWithStatusAndEventPipelineInfo` under the module name the Togai client uses."""

from grantledger.client.models.event_management import EventWithStatusAndEventPipelineInfo

__all__ = ["EventWithStatusAndEventPipelineInfo"]
