"""`UpdateAccountRequest` under the module name the Togai client uses."""

from grantledger.client.models.parties import UpdateAccountRequest

__all__ = ["UpdateAccountRequest"]
