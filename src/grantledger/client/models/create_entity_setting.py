"""`CreateEntitySetting` under the module name the Togai client uses."""

from grantledger.client.models.common import CreateEntitySetting

__all__ = ["CreateEntitySetting"]
