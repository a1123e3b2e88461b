"""`CreateCreditHoldRequest` under the module name the Togai client uses."""

from grantledger.client.models.holds import CreateCreditHoldRequest

__all__ = ["CreateCreditHoldRequest"]
