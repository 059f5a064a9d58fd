"""JavaScript's ``JSON.stringify`` of a JSON value, byte for byte: the one writer of what a
``Hype-Hash`` signature covers. Pure.

Hypetech signs ``url + JSON.stringify(body)``. The simulator writes and signs its webhooks with
``js_stringify``; the ingress checks the raw body, and when something on the way re-formatted it
(pretty-printing, ``10.50`` written for ``10.5``), checks what Node.js would have produced from
the same value. Numbers follow
ECMAScript's Number::toString (shortest round-trip digits of the double, plain notation from
1e-6 up to 1e21); strings are escaped as ``JSON.stringify`` does. This is only for checking
signatures: amounts are never read from here.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any, Final

_LONE_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def js_stringify(value: Any) -> str:
    """``JSON.stringify(JSON.parse(text))`` for ``value = loads_exact(text)``."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | Decimal):
        return number_to_string(value)
    if isinstance(value, str):
        return _js_string(value)
    if isinstance(value, list):
        return "[" + ",".join(js_stringify(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{_js_string(k)}:{js_stringify(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def number_to_string(number: int | Decimal) -> str:
    """ECMAScript Number::toString of the double nearest to ``number`` (NaN, ±Infinity: null)."""
    try:
        double = float(number)
    except OverflowError:
        return "null"
    if not math.isfinite(double):
        return "null"
    if double == 0:
        return "0"
    sign = "-" if double < 0 else ""
    shortest = Decimal(repr(abs(double))).normalize()
    _, digit_tuple, exponent = shortest.as_tuple()
    assert isinstance(exponent, int)  # noqa: S101 - finite by the checks above
    digits = "".join(map(str, digit_tuple))
    k = len(digits)
    n = exponent + k  # the value is 0.digits * 10**n
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = f"{digits[:n]}.{digits[n:]}"
    elif -6 < n <= 0:
        text = "0." + "0" * -n + digits
    else:
        power = n - 1
        mantissa = digits if k == 1 else f"{digits[0]}.{digits[1:]}"
        text = f"{mantissa}e{'+' if power > 0 else '-'}{abs(power)}"
    return sign + text


def _js_string(text: str) -> str:
    encoded = json.dumps(text, ensure_ascii=False)
    return _LONE_SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", encoded)
