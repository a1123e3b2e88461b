"""`DimensionsSchema` under the module name the Togai client uses."""

from grantledger.client.models.events import DimensionsSchema

__all__ = ["DimensionsSchema"]
