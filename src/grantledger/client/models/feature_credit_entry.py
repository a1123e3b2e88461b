"""`FeatureCreditEntry` under the module name the Togai client uses."""

from grantledger.client.models.entitlements import FeatureCreditEntry

__all__ = ["FeatureCreditEntry"]
