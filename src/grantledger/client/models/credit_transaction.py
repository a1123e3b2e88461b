"""`CreditTransaction` under the module name the Togai client uses."""

from grantledger.client.models.credits import CreditTransaction

__all__ = ["CreditTransaction"]
