"""`GetFeatureCreditsResponse` under the module name the Togai client uses."""

from grantledger.client.models.entitlements import GetFeatureCreditsResponse

__all__ = ["GetFeatureCreditsResponse"]
