"""`CreateCreditResponse` under the module name the Togai client uses."""

from grantledger.client.models.credits import CreateCreditResponse

__all__ = ["CreateCreditResponse"]
