"""`FeatureDetails` under the module name the Togai client uses."""

from grantledger.client.models.events import FeatureDetails

__all__ = ["FeatureDetails"]
