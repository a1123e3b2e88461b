"""`/openapi.json` as the server really answers: `{message}` errors, the bearer key, exact types.

FastAPI documents a 422 `{"detail"}` the server never sends (every validation failure is a 400
`{"message"}`), no security scheme, and `pageSize` as the text it is parsed from. The document is
generated once per process and then corrected here, so it cannot drift from the routes.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from grantledger.api.auth import PUBLIC_PATHS
from grantledger.domain.passthrough import JsonObject

_ERROR = {"$ref": "#/components/schemas/Error"}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "whole seconds to wait before sending the request again",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
}

# Why each status can answer; which operations it applies to is decided in `_statuses`.
_WHY = {
    400: "the request is malformed or breaks a rule (the message names the field)",
    401: "no valid API key (checked before anything else)",
    403: "the event is not covered: nothing was drawn",
    404: "an id in the path or body names nothing in this organization",
    408: "the request's headers or body did not arrive in time",
    409: "a conflict with existing state: duplicate id or key, reused invoice id, wrong state",
    413: "the request body is larger than 1 MiB",
    415: "the request body is not declared as JSON (send Content-Type: application/json)",
    429: "too many requests for this API key, or failed authentications from this address",
    431: "the request headers are too large or too many",
    500: "never expected: the message quotes the request id of the logged error",
    503: "the database is unavailable, too slow or busy: nothing was written (or, if the "
    "message says so, the outcome of a commit is unknown)",
}

# Query parameters whose value is one of a closed set (others answer 400).
_QUERY_ENUMS = {
    ("/credits", "status"): ["ACTIVE", "CONSUMED", "EXPIRED", "VOIDED"],
    # Togai's statuses; grantledger's schemas are only ever ACTIVE or INACTIVE.
    ("/event_schema", "status"): ["DRAFT", "ACTIVE", "INACTIVE", "ARCHIVED"],
    ("/incidents", "status"): ["OPEN", "RESOLVED", "CLOSED"],
}
# Deletions refused (409) while money, usage or a plan hangs on what they would delete.
_REFUSED_DELETES = {
    ("delete", "/customers/{customer_id}"),
    ("delete", "/accounts/{account_id}"),
    ("delete", "/event_schema/{event_schema_name}"),
}
_PAGE_SIZE = {"type": "integer", "minimum": 1, "maximum": 50, "default": 50}


def _statuses(path: str, method: str, operation: JsonObject) -> list[int]:
    statuses = [400, 401, 408, 429, 431, 500, 503]
    has_body = "requestBody" in operation
    if has_body:
        statuses.extend((413, 415))
    if "{" in path or has_body:
        statuses.append(404)
    if method in ("post", "patch", "put") or (method, path) in _REFUSED_DELETES:
        statuses.append(409)
    if path == "/entitled":
        statuses.append(403)
    return sorted(statuses)


def _error_response(status: int) -> JsonObject:
    response: JsonObject = {
        "description": _WHY[status],
        "content": {"application/json": {"schema": _ERROR}},
    }
    if status in (429, 503):
        response["headers"] = _RETRY_AFTER
    return response


def _query_parameter(path: str, parameter: JsonObject) -> None:
    name = parameter["name"]
    if name == "pageSize":
        # Parsed leniently (Togai's client sends `10.0`), documented as what it means.
        parameter["schema"] = dict(_PAGE_SIZE)
    elif (path, name) in _QUERY_ENUMS:
        parameter["schema"] = {"type": "string", "enum": _QUERY_ENUMS[path, name]}


def _public(path: str, operation: JsonObject) -> None:
    operation["security"] = []
    if path == "/readyz":
        operation["responses"]["503"] = _error_response(503)
    if path == "/metrics":
        operation["responses"]["200"]["content"] = {"text/plain": {"schema": {"type": "string"}}}


def describe(app: FastAPI) -> JsonObject:
    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    schemas["Error"] = {
        "type": "object",
        "properties": {"message": {"type": "string", "maxLength": 500}},
        "required": ["message"],
        "additionalProperties": False,
    }
    components["securitySchemes"] = {
        "bearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "description": "an API key from `grantledger keys create --org NAME`",
        }
    }
    document["security"] = [{"bearerAuth": []}]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            operation["responses"].pop("422", None)
            if path in PUBLIC_PATHS:
                _public(path, operation)
                continue
            for status in _statuses(path, method, operation):
                operation["responses"].setdefault(str(status), _error_response(status))
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query":
                    _query_parameter(path, parameter)
    return document


def install(app: FastAPI) -> None:
    def openapi() -> JsonObject:
        if app.openapi_schema is None:
            app.openapi_schema = describe(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
