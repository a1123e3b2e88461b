"""`CreditHoldLine` under the module name the Togai client uses."""

from grantledger.client.models.holds import CreditHoldLine

__all__ = ["CreditHoldLine"]
