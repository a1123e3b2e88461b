"""`AccountsBillingInformation` under the module name the Togai client uses."""

from grantledger.client.models.parties import AccountsBillingInformation

__all__ = ["AccountsBillingInformation"]
