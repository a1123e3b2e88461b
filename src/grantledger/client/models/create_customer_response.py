"""`CreateCustomerResponse` under the module name the Togai client uses."""

from grantledger.client.models.parties import CreateCustomerResponse

__all__ = ["CreateCustomerResponse"]
