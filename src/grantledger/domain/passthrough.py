"""JSON objects as they cross the wire, kept as sent where the ledger gives them no meaning."""

from __future__ import annotations

from typing import Any

# A JSON object as parsed from or written to the wire: Togai's address, metadata, schema
# attributes, override and alert detail objects, an event's payload, the OpenAPI document.
# Bounded at the API's door; never a database row (rows travel as the store's records).
JsonObject = dict[str, Any]
