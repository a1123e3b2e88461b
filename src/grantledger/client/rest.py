"""Where the Togai client keeps `ApiException` (`from togai_client.rest import ApiException`)."""

from grantledger.client.exceptions import (
    ApiConnectionException,
    ApiException,
    ApiTimeoutException,
    BadRequestException,
    ConflictException,
    ForbiddenException,
    NotFoundException,
    ServiceException,
    TooManyRequestsException,
    UnauthorizedException,
    UnprocessableEntityException,
)

__all__ = [
    "ApiConnectionException",
    "ApiException",
    "ApiTimeoutException",
    "BadRequestException",
    "ConflictException",
    "ForbiddenException",
    "NotFoundException",
    "ServiceException",
    "TooManyRequestsException",
    "UnauthorizedException",
    "UnprocessableEntityException",
]
