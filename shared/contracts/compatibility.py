"""The compatibility policy of the public events, as the JSON Schemas express it.

Within a topic's major version (``v1``) fields may be added, never removed, renamed or retyped
(``docs/events.md``). The pydantic models stay strict, so our own producers cannot send a field
the contract does not name; the published JSON Schemas are open to additions, so a consumer
validating with the v1 schema keeps accepting v1 events that carry a field added later.
"""

from __future__ import annotations

from typing import Any


def open_to_additions(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` (and every object schema inside it) without ``additionalProperties: false``."""
    if schema.get("additionalProperties") is False:
        del schema["additionalProperties"]
    for value in schema.values():
        if isinstance(value, dict):
            open_to_additions(value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    open_to_additions(item)
    return schema
