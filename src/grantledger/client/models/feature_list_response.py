"""`FeatureListResponse` under the module name the Togai client uses."""

from grantledger.client.models.features import FeatureListResponse

__all__ = ["FeatureListResponse"]
