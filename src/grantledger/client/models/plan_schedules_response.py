"""`PlanSchedulesResponse` under the module name the Togai client uses."""

from grantledger.client.models.plans import PlanSchedulesResponse

__all__ = ["PlanSchedulesResponse"]
