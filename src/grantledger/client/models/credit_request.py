"""`CreditRequest` under the module name the Togai client uses."""

from grantledger.client.models.credits import CreditRequest

__all__ = ["CreditRequest"]
