"""`AccountPaginatedResponse` under the module name the Togai client uses."""

from grantledger.client.models.parties import AccountPaginatedResponse

__all__ = ["AccountPaginatedResponse"]
