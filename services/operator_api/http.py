"""HTTP edges: JSON and problem+json responses, and request bodies parsed with exact numbers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from shared.contracts.problems import PROBLEM_CONTENT_TYPE, problem
from shared.jsonwire import MalformedJson, dumps_compact, loads_exact

JSON_CONTENT_TYPE = "application/json"
MAX_BODY_BYTES = 64 * 1024

ModelT = TypeVar("ModelT", bound=BaseModel)


class ProblemError(Exception):
    """An anticipated rejection: answered as the problem ``slug`` with ``detail``."""

    def __init__(self, slug: str, detail: str, *, status: int | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.slug = slug
        self.detail = detail
        self.status = status
        self.extra = extra


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        dumps_compact(payload), status_code=status, media_type=JSON_CONTENT_TYPE, headers=headers
    )


def problem_response(
    slug: str,
    detail: str,
    *,
    instance: str = "",
    status: int | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response:
    body = problem(slug, detail, instance=instance, status=status, **extra)
    return Response(
        dumps_compact(body),
        status_code=body["status"],
        media_type=PROBLEM_CONTENT_TYPE,
        headers=headers,
    )


def problem_from_error(error: ProblemError, instance: str) -> Response:
    return problem_response(
        error.slug, error.detail, instance=instance, status=error.status, **error.extra
    )


def parse_json(raw: bytes) -> Any:
    """Parse a request body exactly (numbers as ``Decimal``/``int``); problems on bad input."""
    if len(raw) > MAX_BODY_BYTES:
        raise ProblemError("payload-too-large", f"the body is over {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        raise ProblemError("malformed-request", "the body is empty; a JSON object is expected")
    try:
        value = loads_exact(raw)
    except MalformedJson as exc:
        raise ProblemError("malformed-request", str(exc)) from None
    if not isinstance(value, dict):
        raise ProblemError("malformed-request", "the body must be a JSON object")
    return value


def validate(model: type[ModelT], value: Any) -> ModelT:
    """Validate ``value`` as ``model``; the first error becomes an ``invalid-field`` problem."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "body"
        raise ProblemError("invalid-field", f"{field}: {first['msg']}", field=field) from None


async def read_model(request: Request, model: type[ModelT]) -> tuple[ModelT, bytes]:
    """The request body validated as ``model``, and the raw bytes it came from."""
    raw = await request.body()
    return validate(model, parse_json(raw)), raw
