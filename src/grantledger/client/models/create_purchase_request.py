"""`CreatePurchaseRequest` under the module name the Togai client uses."""

from grantledger.client.models.plans import CreatePurchaseRequest

__all__ = ["CreatePurchaseRequest"]
