"""`EntitlementPlanFeature` under the module name the Togai client uses."""

from grantledger.client.models.plans import EntitlementPlanFeature

__all__ = ["EntitlementPlanFeature"]
