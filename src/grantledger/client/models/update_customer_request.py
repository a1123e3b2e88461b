"""`UpdateCustomerRequest` under the module name the Togai client uses."""

from grantledger.client.models.parties import UpdateCustomerRequest

__all__ = ["UpdateCustomerRequest"]
