"""`CreditHold` under the module name the Togai client uses."""

from grantledger.client.models.holds import CreditHold

__all__ = ["CreditHold"]
