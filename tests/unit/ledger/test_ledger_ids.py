"""The hot-path helpers give exactly what the standard ones give."""

from __future__ import annotations

import uuid
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from services.ledger.decide import dumps_compact as fast_dumps
from services.ledger.decide import format_exponent, minor_units
from services.ledger.model import EVENT_NAMESPACE, OPERATOR_TX_NAMESPACE, Key, event_id_for
from shared.jsonwire import dumps_compact
from shared.money import format_minor, parse_minor


def test_derives_operator_tx_ids_exactly_as_uuid5_does() -> None:
    key = Key("hypetech", "bet", "559")

    assert key.operator_tx_id() == str(uuid.uuid5(OPERATOR_TX_NAMESPACE, "hypetech\x1fbet\x1f559"))


def test_derives_event_ids_exactly_as_uuid5_does() -> None:
    assert event_id_for("abc") == str(uuid.uuid5(EVENT_NAMESPACE, "abc"))


def test_writes_bodies_as_the_shared_compact_json_does() -> None:
    value = {"a": "x\u2028y\n\x1f", "b": "\u00e9", "c": None, "d": [1, "2"], "e": True}

    assert fast_dumps(value) == dumps_compact(value)


@given(minor=st.integers(-(10**15), 10**15), exponent=st.sampled_from([0, 2, 3, 4]))
def test_formats_balances_exactly_as_the_shared_formatter(minor: int, exponent: int) -> None:
    currency = {0: "JPY", 2: "USD", 3: "KWD", 4: "CLF"}[exponent]

    assert format_exponent(minor, exponent) == format_minor(minor, currency)


@given(value=st.decimals(min_value=-(10**11), max_value=10**11, places=4, allow_nan=False))
def test_parses_amounts_exactly_as_the_shared_parser_when_no_rounding_is_needed(
    value: Decimal,
) -> None:
    fast = minor_units(value, 2)

    if fast is not None:
        assert fast == (parse_minor(value, "USD").minor, False)
