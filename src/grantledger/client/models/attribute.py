"""`Attribute` under the module name the Togai client uses."""

from grantledger.client.models.events import Attribute

__all__ = ["Attribute"]
