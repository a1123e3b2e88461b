"""`BaseSuccessResponse` under the module name the Togai client uses."""

from grantledger.client.models.common import BaseSuccessResponse

__all__ = ["BaseSuccessResponse"]
