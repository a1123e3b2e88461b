"""`GetEntitlementValuesResponse` under the module name the Togai client uses."""

from grantledger.client.models.entitlements import GetEntitlementValuesResponse

__all__ = ["GetEntitlementValuesResponse"]
