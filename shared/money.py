"""Exact money: parse JSON numbers and numeric strings as decimals, hold minor units as ``int``.

``Decimal`` appears only at the parse and display edges; everything in between is an integer count
of minor units with the currency's exponent. No ``float`` ever touches an amount.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation, localcontext
from typing import Annotated

from pydantic import BeforeValidator

from shared.currencies import DEFAULT_CURRENCIES, CurrencyTable

#: A value within this distance of a representable amount is binary-float noise from the
#: provider (``10.299999999999999``) and is rounded to it; anything further is too fine.
FLOAT_NOISE = Decimal("1e-9")

#: Largest magnitude accepted, in major units. Keeps every minor-unit amount inside BIGINT.
MAX_MAJOR = Decimal("1e12")


#: A decimal numeral in ASCII: what a JSON number or a numeric string may look like, with nothing
#: around it. ``Decimal`` alone would also take underscores (``1_000``), any Unicode digit
#: (``"\u0663"``, full-width ``"\uff11\uff10"``) and surrounding whitespace (``" 5 "``).
#: Longest amount string accepted.
MAX_AMOUNT_CHARS = 64
_NUMERAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


class InvalidAmount(ValueError):
    """The value is not a finite decimal, or is finer than the currency allows."""


@dataclass(frozen=True, slots=True)
class ParsedAmount:
    minor: int
    """The amount in minor units of the currency."""
    noise_rounded: bool
    """True when the input was within ``FLOAT_NOISE`` of ``minor`` and was rounded to it."""


def to_decimal(value: object) -> Decimal:
    """Turn a JSON number (already a ``Decimal`` or ``int``) or a numeric string into a ``Decimal``.

    Raises ``InvalidAmount`` for anything else, including ``bool``, ``float`` (floats must never be
    produced: parse JSON with ``parse_float=Decimal``), NaN, infinities, empty strings and strings
    that are not ASCII decimal text exactly.
    """
    if isinstance(value, bool):
        raise InvalidAmount("a boolean is not an amount")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, str):
        text = value
        if not text or len(text) > MAX_AMOUNT_CHARS:
            raise InvalidAmount(f"an amount string must hold 1 to {MAX_AMOUNT_CHARS} characters")
        if _NUMERAL.fullmatch(text) is None:
            raise InvalidAmount(
                f"{value!r} is not a number in ASCII decimal text such as 25.00 "
                "(no spaces, separators or other digits)"
            )
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise InvalidAmount(f"{value!r} is not a number") from None
    else:
        raise InvalidAmount(
            f"an amount must be a JSON number or a numeric string, not {type(value).__name__}"
        )
    if not number.is_finite():
        raise InvalidAmount("an amount must be finite")
    if number.copy_abs() >= MAX_MAJOR:  # copy_abs, unlike abs(), cannot overflow the context
        raise InvalidAmount("the amount is out of range")
    return number


#: A ``Decimal`` field of a request model: ``to_decimal`` checks the raw input before pydantic's own
#: (lenient) ``Decimal`` parsing would see it.
AsciiDecimal = Annotated[Decimal, BeforeValidator(to_decimal)]


def parse_minor(
    value: object, currency: str, currencies: CurrencyTable = DEFAULT_CURRENCIES
) -> ParsedAmount:
    """Parse ``value`` as an exact amount of ``currency`` and return it in minor units.

    More decimals than the currency allows is ``InvalidAmount``, except within ``FLOAT_NOISE`` of a
    representable value, which is rounded to it (``noise_rounded`` tells the caller to log it).
    ``-0`` is zero. Sign checks (``> 0`` for bets, ``>= 0`` for wins) are the caller's.
    """
    exponent = currencies.exponent(currency)
    number = to_decimal(value)
    if not number.is_zero() and number.adjusted() < -30:
        # Far below any currency's minor unit (and below what scaling can represent): noise.
        return ParsedAmount(0, noise_rounded=True)
    with localcontext() as ctx:
        ctx.prec = 60
        scaled = number.scaleb(exponent)
        nearest = scaled.to_integral_value()
        if scaled == nearest:
            return ParsedAmount(int(nearest), noise_rounded=False)
        if abs(scaled - nearest) <= FLOAT_NOISE.scaleb(exponent):
            return ParsedAmount(int(nearest), noise_rounded=True)
    raise InvalidAmount(f"{number} has more decimals than {currency} allows ({exponent})")


def format_minor(minor: int, currency: str, currencies: CurrencyTable = DEFAULT_CURRENCIES) -> str:
    """Minor units as the wire string with the currency's decimals: ``205000 -> "2050.00"``."""
    exponent = currencies.exponent(currency)
    sign = "-" if minor < 0 else ""
    digits = str(abs(minor)).rjust(exponent + 1, "0")
    if exponent == 0:
        return f"{sign}{digits}"
    return f"{sign}{digits[:-exponent]}.{digits[-exponent:]}"


def minor_to_decimal(
    minor: int, currency: str, currencies: CurrencyTable = DEFAULT_CURRENCIES
) -> Decimal:
    return Decimal(minor).scaleb(-currencies.exponent(currency))
