from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.operator_api import cursor

POSITION = cursor.Position(datetime(2026, 5, 4, 14, 30, tzinfo=UTC), ("3f2a", 2))


def test_a_cursor_decodes_to_the_position_it_was_made_from() -> None:
    fingerprint = cursor.filters_fingerprint({"kind": "bet"})

    decoded = cursor.decode(cursor.encode(POSITION, fingerprint), fingerprint)

    assert decoded == POSITION


def test_the_same_position_always_gives_the_same_cursor() -> None:
    assert cursor.encode(POSITION, "f") == cursor.encode(POSITION, "f")


def test_a_cursor_is_refused_with_other_filters() -> None:
    issued = cursor.encode(POSITION, cursor.filters_fingerprint({"kind": "bet"}))

    with pytest.raises(cursor.InvalidCursor, match="other filters"):
        cursor.decode(issued, cursor.filters_fingerprint({"kind": "win"}))


@pytest.mark.parametrize("text", ["", "not base64!", "eyJ0IjoxfQ", "bnVsbA"])
def test_a_cursor_not_issued_by_the_api_is_refused(text: str) -> None:
    with pytest.raises(cursor.InvalidCursor):
        cursor.decode(text, "f")


def test_the_filter_fingerprint_ignores_order_and_unset_filters() -> None:
    assert cursor.filters_fingerprint({"a": 1, "b": None, "c": "x"}) == cursor.filters_fingerprint(
        {"c": "x", "a": 1}
    )
