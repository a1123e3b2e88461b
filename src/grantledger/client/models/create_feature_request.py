"""`CreateFeatureRequest` under the module name the Togai client uses."""

from grantledger.client.models.features import CreateFeatureRequest

__all__ = ["CreateFeatureRequest"]
