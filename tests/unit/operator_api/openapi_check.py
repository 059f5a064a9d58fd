"""Check an answer of the operator API against what its OpenAPI document says of it."""

from __future__ import annotations

from typing import Any

import httpx
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from services.operator_api import openapi

DOCUMENT_URI = "urn:hypeledger:operator-api"


def response_problems(path: str, method: str, response: httpx.Response) -> list[str]:
    """What in ``response`` the document does not allow (empty when it conforms)."""
    document = openapi.document()
    responses = document["paths"][path][method.lower()]["responses"]
    status = str(response.status_code)
    if status not in responses:
        return [f"{method} {path} answered {status}, not documented"]
    content = responses[status].get("content", {})
    media_type = response.headers["content-type"].split(";")[0]
    if media_type not in content:
        return [f"{method} {path} {status} answered {media_type}, documented {sorted(content)}"]
    pointer = "/".join(
        part.replace("~", "~0").replace("/", "~1")
        for part in ("paths", path, method.lower(), "responses", status, "content", media_type)
    )
    registry: Registry[Any] = Registry().with_resource(
        DOCUMENT_URI, Resource.from_contents(document, default_specification=DRAFT202012)
    )
    validator = Draft202012Validator(
        {"$ref": f"{DOCUMENT_URI}#/{pointer}/schema"}, registry=registry
    )
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(response.json())
    ]
