"""`EventPipelineInfoCustomer` under the module name the Togai client uses."""

from grantledger.client.models.event_management import EventPipelineInfoCustomer

__all__ = ["EventPipelineInfoCustomer"]
