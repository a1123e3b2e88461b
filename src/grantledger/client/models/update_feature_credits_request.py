"""`UpdateFeatureCreditsRequest` under the module name the Togai client uses."""

from grantledger.client.models.entitlements import UpdateFeatureCreditsRequest

__all__ = ["UpdateFeatureCreditsRequest"]
