"""`GetEntitlementValuesResponseDataInner` under the module name the Togai client uses."""

from grantledger.client.models.entitlements import GetEntitlementValuesResponseDataInner

__all__ = ["GetEntitlementValuesResponseDataInner"]
