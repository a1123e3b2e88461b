"""`GetFeatureCreditEntriesPaginatedResponse` under the module name the Togai client uses."""

from grantledger.client.models.entitlements import GetFeatureCreditEntriesPaginatedResponse

__all__ = ["GetFeatureCreditEntriesPaginatedResponse"]
