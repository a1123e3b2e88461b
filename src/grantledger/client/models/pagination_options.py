"""`PaginationOptions` under the module name the Togai client uses."""

from grantledger.client.models.common import PaginationOptions

__all__ = ["PaginationOptions"]
