"""``dumps_rest`` takes orjson for plain values: its text must equal the reference serialiser's."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.hypetech.wire import _dumps_reference, _plain, _plain_any, dumps_rest

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.text(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.decimals(allow_nan=False, allow_infinity=False),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.text(max_size=8), inner, max_size=5),
    ),
    max_leaves=30,
)


@given(_values)
def test_the_fast_path_writes_the_same_text_as_the_reference(value: Any) -> None:
    assert dumps_rest(value) == _dumps_reference(value)


def test_a_float_is_still_refused() -> None:
    with pytest.raises(TypeError):
        dumps_rest({"amount": 1.5})


def test_an_infinite_decimal_is_still_refused() -> None:
    with pytest.raises(ValueError, match="NaN or infinity"):
        dumps_rest([Decimal("Infinity")])


class _Text(str):
    __slots__ = ()


class _Mapping(dict[str, Any]):
    pass


@given(_values)
def test_plain_values_are_recognised_by_the_same_rules_walked_or_recursive(value: Any) -> None:
    assert _plain(value) is _plain_any(value)


@pytest.mark.parametrize(
    ("value", "plain"),
    [
        ({"a": [1, (2, Decimal("3.5"))], "b": _Text("x")}, True),
        (_Mapping(a=[_Text("x"), None]), True),
        ({"a": [1, 2**64]}, False),
        ({"a": {"b": [Decimal("NaN")]}}, False),
        ({"a": {1: "b"}}, False),
        ([{"a": 1.5}], False),
        ([object()], False),
    ],
)
def test_plain_values_in_subclasses_and_deep_inside_are_judged_as_before(
    value: Any, plain: bool
) -> None:
    assert _plain(value) is plain
    assert _plain_any(value) is plain
