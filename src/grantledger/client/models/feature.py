"""`Feature` under the module name the Togai client uses."""

from grantledger.client.models.features import Feature

__all__ = ["Feature"]
