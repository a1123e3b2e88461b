"""`FeaturePaginatedListData` under the module name the Togai client uses."""

from grantledger.client.models.features import FeaturePaginatedListData

__all__ = ["FeaturePaginatedListData"]
