"""`CreatePlanScheduleRequest` under the module name the Togai client uses."""

from grantledger.client.models.plans import CreatePlanScheduleRequest

__all__ = ["CreatePlanScheduleRequest"]
