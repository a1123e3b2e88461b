"""`EventPipelineInfoAccount` under the module name the Togai client uses."""

from grantledger.client.models.event_management import EventPipelineInfoAccount

__all__ = ["EventPipelineInfoAccount"]
