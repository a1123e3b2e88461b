"""`Purchase` under the module name the Togai client uses."""

from grantledger.client.models.plans import Purchase

__all__ = ["Purchase"]
