"""`CreateCreditRequest` under the module name the Togai client uses."""

from grantledger.client.models.credits import CreateCreditRequest

__all__ = ["CreateCreditRequest"]
