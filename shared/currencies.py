"""ISO 4217 minor-unit exponents for the currencies an operator is likely to carry.

The table is deliberately explicit: an unknown code is an error (``UnknownCurrency``) unless the
operator names it in ``HYPELEDGER_EXTRA_CURRENCIES`` with its exponent.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# fmt: off
_ISO_4217: dict[str, int] = {
    # zero-decimal currencies
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
    "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    # three-decimal currencies
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    # four-decimal currencies
    "CLF": 4, "UYW": 4,
    # two-decimal currencies
    "AED": 2, "ARS": 2, "AUD": 2, "AZN": 2, "BAM": 2, "BDT": 2, "BGN": 2, "BOB": 2, "BRL": 2,
    "BYN": 2, "CAD": 2, "CHF": 2, "CNY": 2, "COP": 2, "CRC": 2, "CZK": 2, "DKK": 2, "DOP": 2,
    "DZD": 2, "EGP": 2, "EUR": 2, "GBP": 2, "GEL": 2, "GHS": 2, "GTQ": 2, "HKD": 2, "HNL": 2,
    "HUF": 2, "IDR": 2, "ILS": 2, "INR": 2, "KES": 2, "KZT": 2, "MAD": 2, "MDL": 2, "MXN": 2,
    "MYR": 2, "NGN": 2, "NOK": 2, "NZD": 2, "PEN": 2, "PHP": 2, "PKR": 2, "PLN": 2, "QAR": 2,
    "RON": 2, "RSD": 2, "RUB": 2, "SAR": 2, "SEK": 2, "SGD": 2, "THB": 2, "TRY": 2, "TWD": 2,
    "TZS": 2, "UAH": 2, "USD": 2, "UYU": 2, "UZS": 2, "VES": 2, "ZAR": 2, "ZMW": 2,
}
# fmt: on

ISO_4217_EXPONENTS: Mapping[str, int] = MappingProxyType(_ISO_4217)


#: Largest exponent an extra currency may have: amounts up to 1e12 major units (``MAX_MAJOR`` in
#: ``shared/money.py``) must fit a BIGINT of minor units (9.2e18).
MAX_EXPONENT = 6


class UnknownCurrency(ValueError):
    """The currency code is not in the ISO 4217 table nor configured as an extra currency."""

    def __init__(self, code: str) -> None:
        super().__init__(f"unknown currency {code!r}")
        self.code = code


class CurrencyTable:
    """ISO 4217 plus the operator's configured extras (for example ``{"USDT": 6}``)."""

    def __init__(self, extra: Mapping[str, int] | None = None) -> None:
        merged = dict(_ISO_4217)
        for code, exponent in (extra or {}).items():
            if not (0 <= exponent <= MAX_EXPONENT):
                raise ValueError(f"exponent of {code} must be 0..{MAX_EXPONENT}, got {exponent}")
            merged[code.upper()] = exponent
        self._exponents = merged

    def exponent(self, code: str) -> int:
        try:
            return self._exponents[code]
        except KeyError:
            raise UnknownCurrency(code) from None

    def __contains__(self, code: object) -> bool:
        return code in self._exponents


DEFAULT_CURRENCIES = CurrencyTable()
