"""`ErrorResponse` under the module name the Togai client uses."""

from grantledger.client.models.common import ErrorResponse

__all__ = ["ErrorResponse"]
