"""`EventPipelineInfo` under the module name the Togai client uses."""

from grantledger.client.models.event_management import EventPipelineInfo

__all__ = ["EventPipelineInfo"]
