"""`CreateEventSchemaRequest` under the module name the Togai client uses."""

from grantledger.client.models.events import CreateEventSchemaRequest

__all__ = ["CreateEventSchemaRequest"]
