"""`EventPipelineInfoEventSchema` under the module name the Togai client uses."""

from grantledger.client.models.event_management import EventPipelineInfoEventSchema

__all__ = ["EventPipelineInfoEventSchema"]
