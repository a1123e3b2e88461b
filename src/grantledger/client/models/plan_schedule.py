"""`PlanSchedule` under the module name the Togai client uses."""

from grantledger.client.models.plans import PlanSchedule

__all__ = ["PlanSchedule"]
