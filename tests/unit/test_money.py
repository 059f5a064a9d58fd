"""Exact money: parsing JSON numbers and strings into minor units, and formatting them back."""

from __future__ import annotations

from decimal import Decimal

import pytest
from iso4217 import Currency

from shared.currencies import (
    ISO_4217_EXPONENTS,
    WITHDRAWN_STILL_HELD,
    CurrencyTable,
    UnknownCurrency,
)
from shared.jsonwire import MalformedJson, loads_exact
from shared.money import InvalidAmount, ParsedAmount, format_minor, minor_to_decimal, parse_minor


def wire(text: str) -> object:
    """A JSON number exactly as the webhook parser hands it over."""
    return loads_exact(text)


@pytest.mark.parametrize(
    ("raw", "minor"),
    [("200", 20000), ("0.1", 10), ("1e2", 10000), ("1E+2", 10000), ("10.50", 1050), ("0", 0)],
)
def test_json_number_parses_to_exact_minor_units(raw: str, minor: int) -> None:
    assert parse_minor(wire(raw), "EUR") == ParsedAmount(minor, noise_rounded=False)


@pytest.mark.parametrize(
    ("text", "minor"), [("10.50", 1050), ("200", 20000), ("1e2", 10000), (".5", 50), ("+5", 500)]
)
def test_numeric_string_parses_to_exact_minor_units(text: str, minor: int) -> None:
    assert parse_minor(text, "EUR").minor == minor


def test_binary_float_noise_is_rounded_to_the_representable_amount() -> None:
    parsed = parse_minor(wire("10.299999999999999"), "EUR")

    assert parsed == ParsedAmount(1030, noise_rounded=True)
    assert format_minor(parsed.minor, "EUR") == "10.30"


def test_noise_above_the_amount_is_rounded_down_to_it() -> None:
    assert parse_minor(wire("10.300000000000001"), "EUR") == ParsedAmount(1030, noise_rounded=True)


def test_negative_noise_is_rounded_like_positive_noise() -> None:
    assert parse_minor("-10.299999999999999", "EUR").minor == -1030


def test_extra_decimal_beyond_the_noise_band_is_refused() -> None:
    with pytest.raises(InvalidAmount, match="more decimals than EUR allows"):
        parse_minor(wire("10.299"), "EUR")


def test_value_just_outside_the_noise_band_is_refused() -> None:
    with pytest.raises(InvalidAmount):
        parse_minor(wire("10.29999999"), "EUR")


def test_infinitesimal_amount_is_noise_around_zero() -> None:
    assert parse_minor("1e-999999999999999999", "EUR") == ParsedAmount(0, noise_rounded=True)


@pytest.mark.parametrize("raw", ["1e400", "1e1000000", "-1e1000000", "1000000000000"])
def test_number_beyond_the_range_is_refused(raw: str) -> None:
    with pytest.raises(InvalidAmount, match="out of range"):
        parse_minor(wire(raw), "EUR")


def test_huge_exponent_in_a_string_is_refused_not_an_overflow() -> None:
    with pytest.raises(InvalidAmount, match="out of range"):
        parse_minor("1e999999999999999999", "EUR")


def test_largest_amount_below_the_range_is_accepted() -> None:
    assert parse_minor("999999999999.99", "EUR").minor == 99_999_999_999_999


@pytest.mark.parametrize("text", ["NaN", "nan", "sNaN", "Infinity", "-inf"])
def test_non_finite_string_is_refused(text: str) -> None:
    with pytest.raises(InvalidAmount):
        parse_minor(text, "EUR")


def test_nan_decimal_is_refused() -> None:
    with pytest.raises(InvalidAmount, match="finite"):
        parse_minor(Decimal("NaN"), "EUR")


def test_json_nan_never_reaches_the_parser() -> None:
    with pytest.raises(ValueError, match="NaN"):
        loads_exact('{"amount": NaN}')


def test_json_behind_a_byte_order_mark_is_malformed_as_the_standard_parser_has_it() -> None:
    with pytest.raises(MalformedJson, match="byte order mark"):
        loads_exact('\ufeff{"amount": "1.00"}'.encode())


def test_the_shared_decoder_keeps_numbers_exact_on_every_call() -> None:
    first = loads_exact(b'{"amount": 10.10, "n": 7}')
    second = loads_exact(b'{"amount": 1E+3}')

    assert first == {"amount": Decimal("10.10"), "n": 7}
    assert str(second["amount"]) == "1E+3"


@pytest.mark.parametrize("raw", ["-0", "-0.0", "-0.00"])
def test_negative_zero_is_zero(raw: str) -> None:
    assert parse_minor(wire(raw), "EUR") == ParsedAmount(0, noise_rounded=False)


def test_negative_zero_formats_without_a_sign() -> None:
    assert format_minor(parse_minor("-0", "EUR").minor, "EUR") == "0.00"


@pytest.mark.parametrize(
    "value", [1.5, True, None, [1], {"amount": 1}, "", "   ", "1,50", "ten", "0x10", "1" * 65]
)
def test_anything_but_a_number_or_numeric_string_is_refused(value: object) -> None:
    with pytest.raises(InvalidAmount):
        parse_minor(value, "EUR")


@pytest.mark.parametrize("text", ["1_000", "\u0663", "\uff11\uff12", " 5 ", "5\n", "\u00a05"])
def test_numeric_string_must_use_ascii_digits_only(text: str) -> None:
    with pytest.raises(InvalidAmount, match="not a number"):
        parse_minor(text, "EUR")


def test_unknown_currency_is_refused() -> None:
    with pytest.raises(UnknownCurrency, match="XYZ"):
        parse_minor("1.00", "XYZ")


def test_currency_codes_are_case_sensitive() -> None:
    with pytest.raises(UnknownCurrency):
        parse_minor("1.00", "eur")


@pytest.mark.parametrize(
    ("currency", "text", "minor"),
    [("AOA", "12.34", 1234), ("LKR", "0.05", 5), ("CLF", "1.2345", 12345), ("ISK", "7", 7)],
)
def test_every_iso_4217_currency_with_minor_units_is_known_with_its_exponent(
    currency: str, text: str, minor: int
) -> None:
    assert parse_minor(text, currency).minor == minor


def test_the_table_is_iso_4217s_own_plus_the_projects_explicit_additions() -> None:
    iso = {c.code: c.exponent for c in Currency if c.exponent is not None}

    assert dict(ISO_4217_EXPONENTS) == {**iso, **WITHDRAWN_STILL_HELD}
    assert len(ISO_4217_EXPONENTS) > 160


@pytest.mark.parametrize("code", ["XAU", "XDR", "XTS", "XXX"])
def test_a_code_without_minor_units_is_no_currency_of_an_account(code: str) -> None:
    with pytest.raises(UnknownCurrency):
        CurrencyTable().exponent(code)


def test_a_currency_iso_withdrew_is_still_read_with_its_exponent() -> None:
    assert format_minor(1234, "BGN") == "12.34"


def test_configured_extra_currency_uses_its_exponent() -> None:
    table = CurrencyTable({"usdt": 6})

    assert parse_minor("1.123456", "USDT", table).minor == 1_123_456


def test_extra_currency_exponent_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match=r"0\.\.6"):
        CurrencyTable({"BIG": 19})


def test_jpy_has_no_minor_unit() -> None:
    assert parse_minor(wire("1500"), "JPY").minor == 1500


def test_jpy_refuses_decimals() -> None:
    with pytest.raises(InvalidAmount, match="JPY"):
        parse_minor(wire("1.5"), "JPY")


def test_kwd_has_three_decimals() -> None:
    assert parse_minor(wire("1.234"), "KWD").minor == 1234


def test_kwd_refuses_a_fourth_decimal() -> None:
    with pytest.raises(InvalidAmount, match="KWD"):
        parse_minor(wire("1.2345"), "KWD")


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (205000, "EUR", "2050.00"),
        (5, "EUR", "0.05"),
        (-5, "EUR", "-0.05"),
        (0, "EUR", "0.00"),
        (1500, "JPY", "1500"),
        (1234, "KWD", "1.234"),
        (7, "KWD", "0.007"),
        (99_999_999_999_999, "EUR", "999999999999.99"),
    ],
)
def test_minor_units_format_with_the_currency_decimals(
    minor: int, currency: str, text: str
) -> None:
    assert format_minor(minor, currency) == text


def test_parse_and_format_round_trip() -> None:
    assert format_minor(parse_minor(wire("10.5"), "EUR").minor, "EUR") == "10.50"


def test_minor_units_convert_to_an_exact_decimal() -> None:
    assert minor_to_decimal(1030, "EUR") == Decimal("10.30")


def test_refuses_an_extra_currency_finer_than_a_bigint_can_hold() -> None:
    with pytest.raises(ValueError, match="exponent of SATS"):
        CurrencyTable({"SATS": 7})
