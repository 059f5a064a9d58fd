"""``dumps_js`` takes orjson for plain values: its text must equal the reference serialiser's."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.hypetech.wire import _dumps_reference, dumps_js

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
    assert dumps_js(value) == _dumps_reference(value)


def test_a_float_is_still_refused() -> None:
    with pytest.raises(TypeError):
        dumps_js({"amount": 1.5})


def test_an_infinite_decimal_is_still_refused() -> None:
    with pytest.raises(ValueError, match="NaN or infinity"):
        dumps_js([Decimal("Infinity")])
