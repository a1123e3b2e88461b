"""`CreditHoldLineRequest` under the module name the Togai client uses."""

from grantledger.client.models.holds import CreditHoldLineRequest

__all__ = ["CreditHoldLineRequest"]
