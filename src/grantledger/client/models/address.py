"""`Address` under the module name the Togai client uses."""

from grantledger.client.models.common import Address

__all__ = ["Address"]
