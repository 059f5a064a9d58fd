"""JSON on the wire with exact numbers: numbers parse to ``Decimal``/``int``, never ``float``."""

from __future__ import annotations

import json
import re
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson


class MalformedJson(ValueError):
    """The bytes are not UTF-8 JSON, or nest deeper than allowed."""


MAX_DEPTH = 32
_BRACKETS = re.compile(r"[\[\]{}]")


def _reject_constant(name: str) -> Any:
    raise MalformedJson(f"{name} is not valid JSON")


#: One decoder for every call (``json.loads`` with arguments builds a new one each time).
_EXACT = json.JSONDecoder(parse_float=Decimal, parse_constant=_reject_constant)


def loads_exact(raw: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON keeping every number exact (``1e2`` -> ``Decimal('1E+2')``, ``200`` -> ``200``)."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise MalformedJson("the body is not UTF-8") from exc
    depth = 0
    # Only a text with more openers than the limit can nest deeper: skip the scan otherwise.
    openers = text.count("[") + text.count("{")
    for char in _BRACKETS.findall(text) if openers > max_depth else ():  # the brackets only
        if char in "[{":
            depth += 1
            if depth > max_depth:
                raise MalformedJson(f"the body nests deeper than {max_depth}")
        elif char in "]}":
            depth -= 1
    if text.startswith("\ufeff"):  # what ``json.loads`` refuses before decoding
        raise MalformedJson("the body is not JSON: it starts with a byte order mark")
    try:
        return _EXACT.decode(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise MalformedJson(f"the body is not JSON: {exc}") from exc


def dumps_compact(value: Any) -> str:
    """Compact JSON (no spaces), keys in insertion order, UTF-8 text unescaped; ``Decimal`` as a
    string of its exact text, ``datetime`` in ISO 8601.

    The one writer of the answers the ledger stores and replays byte for byte, and of every other
    compact JSON hypeledger writes (HTTP answers, ``json`` columns). orjson writes it; what orjson
    refuses (an integer past 64 bits, a key that is not a string, an unpaired surrogate) is
    written by the standard library the same way.
    """
    try:
        return orjson.dumps(value, default=_exact_text).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_exact_text)


def _exact_text(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
