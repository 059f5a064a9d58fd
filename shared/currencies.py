"""ISO 4217 minor-unit exponents, from the ``iso4217`` package (ISO's published table, pinned in
``pyproject.toml``; the package's version ends with the table's date), plus the project's explicit
additions.

An unknown code is an error (``UnknownCurrency``) unless the operator names it in
``HYPELEDGER_EXTRA_CURRENCIES`` with its exponent. Codes without minor units in ISO's table
(precious metals, ``XDR``, the testing code ``XTS``, ``XXX``) are not money an account can hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from iso4217 import Currency

#: Codes ISO has withdrawn that the project still reads, with the exponent they had: accounts
#: and records opened in them must keep formatting and reconciling. ``BGN``: withdrawn on
#: 2026-01-01, when Bulgaria adopted the euro.
WITHDRAWN_STILL_HELD: Mapping[str, int] = MappingProxyType({"BGN": 2})

_ISO_4217: dict[str, int] = {
    **WITHDRAWN_STILL_HELD,
    **{c.code: c.exponent for c in Currency if c.exponent is not None},
}

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
