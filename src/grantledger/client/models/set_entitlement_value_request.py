"""`SetEntitlementValueRequest` under the module name the Togai client uses."""

from grantledger.client.models.plans import SetEntitlementValueRequest

__all__ = ["SetEntitlementValueRequest"]
