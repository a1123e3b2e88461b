"""`CreateCustomerRequest` under the module name the Togai client uses."""

from grantledger.client.models.parties import CreateCustomerRequest

__all__ = ["CreateCustomerRequest"]
