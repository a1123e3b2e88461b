"""`ValidateEntitlementValueRequest` under the module name the Togai client uses."""

from grantledger.client.models.entitlements import ValidateEntitlementValueRequest

__all__ = ["ValidateEntitlementValueRequest"]
