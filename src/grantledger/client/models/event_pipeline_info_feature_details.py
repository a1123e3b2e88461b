"""`EventPipelineInfoFeatureDetails` under the module name the Togai client uses."""

from grantledger.client.models.event_management import EventPipelineInfoFeatureDetails

__all__ = ["EventPipelineInfoFeatureDetails"]
