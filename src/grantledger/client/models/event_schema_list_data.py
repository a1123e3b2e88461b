"""`EventSchemaListData` under the module name the Togai client uses."""

from grantledger.client.models.events import EventSchemaListData

__all__ = ["EventSchemaListData"]
