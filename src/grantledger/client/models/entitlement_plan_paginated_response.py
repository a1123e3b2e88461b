"""`EntitlementPlanPaginatedResponse` under a Togai-style module name."""

from grantledger.client.models.plans import EntitlementPlanPaginatedResponse

__all__ = ["EntitlementPlanPaginatedResponse"]
