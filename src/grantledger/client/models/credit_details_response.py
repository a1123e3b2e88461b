"""`CreditDetailsResponse` under the module name the Togai client uses."""

from grantledger.client.models.credits import CreditDetailsResponse

__all__ = ["CreditDetailsResponse"]
