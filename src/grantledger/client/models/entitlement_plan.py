"""`EntitlementPlan` under the module name the Togai client uses."""

from grantledger.client.models.plans import EntitlementPlan

__all__ = ["EntitlementPlan"]
