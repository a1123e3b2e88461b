"""`CreditHoldAllocation` under the module name the Togai client uses."""

from grantledger.client.models.holds import CreditHoldAllocation

__all__ = ["CreditHoldAllocation"]
