"""`ListCreditsResponse` under the module name the Togai client uses."""

from grantledger.client.models.credits import ListCreditsResponse

__all__ = ["ListCreditsResponse"]
