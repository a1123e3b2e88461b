"""`EventSchemasApi`: the shapes of the usage events that consume features."""

from __future__ import annotations

from grantledger.client._core import Call, body_of, coerce, path, query
from grantledger.client.api._base import Api, Body, C, operation, pager
from grantledger.client.models.common import BaseSuccessResponse
from grantledger.client.models.events import (
    CreateEventSchemaRequest,
    EventSchema,
    EventSchemaListPaginatedResponse,
)

__all__ = ["EventSchemasApi"]

_SCHEMA = "/event_schema/{n}"


def _create_event_schema(
    create_event_schema_request: CreateEventSchemaRequest | Body,
) -> Call[EventSchema]:
    """`POST /event_schema` (201): a new schema, ACTIVE at once."""
    return Call(
        "POST",
        "/event_schema",
        EventSchema,
        body=body_of(coerce(CreateEventSchemaRequest, create_event_schema_request)),
        json_body=True,
    )


def _get_event_schema(event_schema_name: str, version: int | None = None) -> Call[EventSchema]:
    """`GET /event_schema/{event_schema_name}`."""
    return Call(
        "GET",
        path(_SCHEMA, n=event_schema_name),
        EventSchema,
        query=query(version=version),
        idempotent=True,
    )


def _list_event_schemas(
    next_token: str | None = None, status: str | None = None, page_size: int | None = None
) -> Call[EventSchemaListPaginatedResponse]:
    """`GET /event_schema`: one page, optionally only those with `status`."""
    return Call(
        "GET",
        "/event_schema",
        EventSchemaListPaginatedResponse,
        query=query(status=status, nextToken=next_token, pageSize=page_size),
        idempotent=True,
    )


def _activate_event_schema(event_schema_name: str) -> Call[EventSchema]:
    """`POST /event_schema/{event_schema_name}/activate`."""
    return Call(
        "POST", path(_SCHEMA + "/activate", n=event_schema_name), EventSchema, idempotent=True
    )


def _deactivate_event_schema(event_schema_name: str) -> Call[EventSchema]:
    """`POST /event_schema/{event_schema_name}/deactivate`."""
    return Call(
        "POST", path(_SCHEMA + "/deactivate", n=event_schema_name), EventSchema, idempotent=True
    )


def _delete_event_schema(event_schema_name: str) -> Call[BaseSuccessResponse]:
    """`DELETE /event_schema/{event_schema_name}`: refused (409, `ConflictException`) while a
    feature consumes it."""
    # Twice cannot delete more than once; a retry whose first attempt was applied answers 404.
    return Call("DELETE", path(_SCHEMA, n=event_schema_name), BaseSuccessResponse, idempotent=True)


class EventSchemasApi(Api[C]):
    create_event_schema = operation(_create_event_schema)
    get_event_schema = operation(_get_event_schema)
    list_event_schemas = operation(_list_event_schemas)
    iter_event_schemas = pager(_list_event_schemas)
    activate_event_schema = operation(_activate_event_schema)
    deactivate_event_schema = operation(_deactivate_event_schema)
    delete_event_schema = operation(_delete_event_schema)
