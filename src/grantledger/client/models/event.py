"""`Event` under the module name the Togai client uses."""

from grantledger.client.models.events import Event

__all__ = ["Event"]
