"""`CreateFeatureCreditEntryRequest` under the module name the Togai client uses."""

from grantledger.client.models.plans import CreateFeatureCreditEntryRequest

__all__ = ["CreateFeatureCreditEntryRequest"]
