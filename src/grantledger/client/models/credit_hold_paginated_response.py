"""`CreditHoldPaginatedResponse` under the module name the Togai client uses."""

from grantledger.client.models.holds import CreditHoldPaginatedResponse

__all__ = ["CreditHoldPaginatedResponse"]
