"""`CreditBalanceResponse` under the module name the Togai client uses."""

from grantledger.client.models.credits import CreditBalanceResponse

__all__ = ["CreditBalanceResponse"]
