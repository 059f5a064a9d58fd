"""JSON of Hypetech's REST API (the client's requests, the simulator's answers) with exact numbers.

Hypetech's bodies carry amounts as JSON numbers (``"amount":200``, ``"value":10.5``). Writing them
from ``Decimal`` keeps them exact, in JavaScript's style (compact, keys in insertion order, ``200``
rather than ``200.00``, no exponent). What a signature covers is written by
``shared.hypetech.jsstringify`` instead, which writes numbers as Node.js does (through a double).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson


def plain_number(value: Decimal | int) -> str:
    """The exact number in plain notation, no trailing zeros: ``200.00 -> "200"``, ``10.50 -> "10.5"``."""
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    if isinstance(value, int):
        return str(value)
    if not value.is_finite():
        raise ValueError("JSON has no NaN or infinity")
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def dumps_rest(value: Any) -> str:
    """Serialise ``value`` compactly; ``Decimal`` and ``int`` become exact numbers (``plain_number``).

    Values made only of what orjson writes exactly the same way (str-keyed dicts, lists, tuples,
    strings, booleans, ``None``, 64-bit ints, finite ``Decimal`` as a raw fragment) take orjson;
    anything else (and anything orjson refuses) takes the reference serialiser below.
    """
    if _plain(value):
        try:
            return orjson.dumps(value, default=_fragment).decode()
        except orjson.JSONEncodeError:
            pass
    return _dumps_reference(value)


def _fragment(value: Any) -> orjson.Fragment:
    if isinstance(value, Decimal):
        return orjson.Fragment(plain_number(value))
    raise TypeError(f"{type(value).__name__} is not JSON serialisable without losing exactness")


def _plain(value: Any) -> bool:
    """Whether every value inside is one orjson writes as ``JSON.stringify`` does.

    Walked with a stack, exact types first (a page of rows is a thousand values); any other
    type is judged by ``_plain_any``, the same rules by ``isinstance``."""
    pending = [value]
    pop, push, extend = pending.pop, pending.append, pending.extend
    while pending:
        item = pop()
        kind = type(item)
        if kind is str or item is None or kind is bool:
            continue
        if kind is dict:
            for key, inner in item.items():
                if type(key) is not str and not isinstance(key, str):
                    return False
                push(inner)
        elif kind is list or kind is tuple:
            extend(item)
        elif kind is Decimal:
            if not item.is_finite():
                return False
        elif kind is int:
            if not -(2**63) <= item < 2**64:
                return False
        elif not _plain_any(item):
            return False
    return True


def _plain_any(value: Any) -> bool:
    if value is None or isinstance(value, bool | str):
        return True
    if isinstance(value, int):
        return -(2**63) <= value < 2**64
    if isinstance(value, Decimal):
        return value.is_finite()
    if isinstance(value, dict):
        return all(isinstance(key, str) and _plain(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return all(_plain(item) for item in value)
    return False


def _dumps_reference(value: Any) -> str:
    if value is None or isinstance(value, bool | str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Decimal | int):
        return plain_number(value)
    if isinstance(value, dict):
        items = (f"{dumps_rest(str(key))}:{dumps_rest(item)}" for key, item in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps_rest(item) for item in value) + "]"
    raise TypeError(f"{type(value).__name__} is not JSON serialisable without losing exactness")
