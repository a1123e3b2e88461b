"""`AccountAlias` under the module name the Togai client uses."""

from grantledger.client.models.parties import AccountAlias

__all__ = ["AccountAlias"]
