"""`CreateAccountAliasRequest` under the module name the Togai client uses."""

from grantledger.client.models.parties import CreateAccountAliasRequest

__all__ = ["CreateAccountAliasRequest"]
