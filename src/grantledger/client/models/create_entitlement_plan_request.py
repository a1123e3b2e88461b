"""`CreateEntitlementPlanRequest` under the module name the Togai client uses."""

from grantledger.client.models.plans import CreateEntitlementPlanRequest

__all__ = ["CreateEntitlementPlanRequest"]
