"""`CreateAccountRequest` under the module name the Togai client uses."""

from grantledger.client.models.parties import CreateAccountRequest

__all__ = ["CreateAccountRequest"]
