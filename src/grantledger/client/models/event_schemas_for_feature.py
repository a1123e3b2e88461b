"""`EventSchemasForFeature` under the module name the Togai client uses."""

from grantledger.client.models.features import EventSchemasForFeature

__all__ = ["EventSchemasForFeature"]
