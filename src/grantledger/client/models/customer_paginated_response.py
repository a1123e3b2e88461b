"""`CustomerPaginatedResponse` under the module name the Togai client uses."""

from grantledger.client.models.parties import CustomerPaginatedResponse

__all__ = ["CustomerPaginatedResponse"]
