"""`EventAttributeSchema` under the module name the Togai client uses."""

from grantledger.client.models.events import EventAttributeSchema

__all__ = ["EventAttributeSchema"]
