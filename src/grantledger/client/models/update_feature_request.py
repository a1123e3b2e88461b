"""`UpdateFeatureRequest` under the module name the Togai client uses."""

from grantledger.client.models.features import UpdateFeatureRequest

__all__ = ["UpdateFeatureRequest"]
