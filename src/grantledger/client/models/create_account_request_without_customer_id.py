"""`CreateAccountRequestWithoutCustomerId` under the module name the Togai client uses."""

from grantledger.client.models.parties import CreateAccountRequestWithoutCustomerId

__all__ = ["CreateAccountRequestWithoutCustomerId"]
