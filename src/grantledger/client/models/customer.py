"""`Customer` under the module name the Togai client uses."""

from grantledger.client.models.parties import Customer

__all__ = ["Customer"]
