"""Exact JSON for Hypetech (numbers as JavaScript writes them, never float) and its errors."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.hypetech.errors import parse_error
from shared.hypetech.wire import dumps_rest


def test_decimals_are_written_as_javascript_numbers() -> None:
    assert (
        dumps_rest({"a": Decimal("200.00"), "b": Decimal("10.50"), "c": Decimal("1E+3")})
        == '{"a":200,"b":10.5,"c":1000}'
    )


def test_keys_keep_their_order_and_text_is_not_escaped_to_ascii() -> None:
    assert dumps_rest({"z": "ção", "a": [True, None]}) == '{"z":"ção","a":[true,null]}'


def test_a_float_is_refused() -> None:
    with pytest.raises(TypeError):
        dumps_rest({"amount": 0.1})


def test_an_error_with_status_code_is_read() -> None:
    error = parse_error(401, b'{"title":"Unauthorized","statusCode":401,"detail":"no"}')

    assert (error.status, error.title, error.detail) == (401, "Unauthorized", "no")


def test_an_error_with_rfc7807_status_is_read() -> None:
    error = parse_error(404, b'{"type":"https://x/not-found","title":"Not found","status":404}')

    assert (error.status, error.type) == (404, "https://x/not-found")


def test_an_error_without_a_json_body_falls_back_to_the_http_status() -> None:
    error = parse_error(502, b"<html>bad gateway</html>", "Bad Gateway")

    assert (error.status, error.title, error.retryable) == (502, "Bad Gateway", True)
