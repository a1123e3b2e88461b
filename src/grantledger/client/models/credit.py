"""`Credit` under the module name the Togai client uses."""

from grantledger.client.models.credits import Credit

__all__ = ["Credit"]
