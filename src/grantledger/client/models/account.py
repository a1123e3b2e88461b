"""`Account` under the module name the Togai client uses."""

from grantledger.client.models.parties import Account

__all__ = ["Account"]
