"""`EventSchemaListPaginatedResponse` under the module name the Togai client uses."""

from grantledger.client.models.events import EventSchemaListPaginatedResponse

__all__ = ["EventSchemaListPaginatedResponse"]
