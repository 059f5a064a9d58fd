"""One set of rules for the identifiers that name money.

User ids, currencies, idempotency keys and provider ids are checked by the same functions in the
operator API (bodies, paths, headers, query strings), the CLI (before it calls the API) and the
ledger (the ``OperatorCommand`` contract), so an id one door accepts is one every door accepts:

* a length bound (1 to ``MAX_USER_ID`` / ``MAX_KEY`` / ``MAX_PROVIDER_ID`` characters);
* Unicode NFC: ``"é"`` and ``"e"`` + U+0301 would be two accounts that look alike, so a
  decomposed id is refused (not rewritten: an id is never silently changed);
* a safe character set: no control, format (zero-width, bidirectional overrides and isolates),
  surrogate, private-use or unassigned character, no whitespace but the plain space and none at
  either end; a user id also holds no ``/`` and is not ``.`` or ``..`` (it is a path segment);
* a currency is 3 to 8 ASCII letters or digits, upper-cased.

Amounts follow ``shared.money.to_decimal`` (ASCII decimal text or an exact JSON number);
``shared.money.AsciiDecimal`` applies it before pydantic's own ``Decimal`` parsing.

Each refusal is an ``InvalidIdentifier`` (a ``ValueError``) naming the field; ``UserId``,
``Currency``, ``IdempotencyKey`` and ``ProviderId`` are the same checks as pydantic field types.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Annotated, Final

from pydantic import BeforeValidator, Field, ValidationInfo
from pydantic_core import PydanticCustomError

MAX_USER_ID: Final = 200
MAX_KEY: Final = 200
MAX_PROVIDER_ID: Final = 200

#: Unicode categories never allowed: controls, format characters (bidi overrides, zero-width),
#: surrogates, private use, unassigned, line and paragraph separators.
_REFUSED_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_ASCII_UNSAFE: Final = re.compile(r"[\x00-\x1f\x7f]")
_CURRENCY: Final = re.compile(r"[A-Za-z0-9]{3,8}", re.ASCII)


class InvalidIdentifier(ValueError):
    """``field`` breaks the identifier rules; ``reason`` says which."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field} {reason}")
        self.field = field
        self.reason = reason


def _unsafe_character(value: str) -> str | None:
    """The first character the rules refuse, or ``None``."""
    if value.isascii():
        found = _ASCII_UNSAFE.search(value)
        return None if found is None else found.group()
    for char in value:
        category = unicodedata.category(char)
        if category in _REFUSED_CATEGORIES or (category == "Zs" and char != " "):
            return char
    return None


def identifier(field: str, value: object, *, max_length: int = MAX_PROVIDER_ID) -> str:
    """``value`` if it is a string that keeps the common rules; else ``InvalidIdentifier``."""
    if not isinstance(value, str):
        raise InvalidIdentifier(field, f"must be a string, not {type(value).__name__}")
    if not 1 <= len(value) <= max_length:
        raise InvalidIdentifier(field, f"must hold 1 to {max_length} characters")
    unsafe = _unsafe_character(value)
    if unsafe is not None:
        raise InvalidIdentifier(
            field, f"must not hold the character U+{ord(unsafe):04X} (control, format or space)"
        )
    if value != value.strip(" "):
        raise InvalidIdentifier(field, "must not begin or end with a space")
    if not value.isascii() and not unicodedata.is_normalized("NFC", value):
        raise InvalidIdentifier(field, "must be in Unicode normal form NFC")
    return value


def user_id(value: object, field: str = "user_id") -> str:
    """A player's id: the common rules, and usable as one URL path segment."""
    text = identifier(field, value, max_length=MAX_USER_ID)
    if "/" in text:
        raise InvalidIdentifier(field, "must not hold '/'")
    if text in {".", ".."}:
        raise InvalidIdentifier(field, "must not be '.' or '..'")
    return text


def idempotency_key(value: object, field: str = "Idempotency-Key") -> str:
    return identifier(field, value, max_length=MAX_KEY)


def provider_id(value: object, field: str = "provider_tx_id") -> str:
    """An id the provider gave (a transaction, a round, a session)."""
    return identifier(field, value, max_length=MAX_PROVIDER_ID)


def currency(value: object, field: str = "currency") -> str:
    """A currency code: 3 to 8 ASCII letters or digits, returned upper-cased."""
    if not isinstance(value, str) or _CURRENCY.fullmatch(value) is None:
        raise InvalidIdentifier(field, "must be 3 to 8 ASCII letters or digits, such as EUR")
    return value.upper()


def _pydantic_rule(check: Callable[[object, str], str]) -> BeforeValidator:
    """``check`` as a pydantic validator that runs before any conversion, naming the field."""

    def validate(value: object, info: ValidationInfo) -> str:
        try:
            return check(value, info.field_name or "value")
        except InvalidIdentifier as exc:
            raise PydanticCustomError(
                "invalid_identifier", "{reason}", {"reason": exc.reason}
            ) from None

    return BeforeValidator(validate)


#: Field metadata first (it shapes the JSON schema), then the rule (it runs before any of it).
_RULES = "NFC; no control, format (bidi, zero-width) or surrounding space characters"

#: What of the rules a JSON Schema ``pattern`` can say (no ASCII control character, no space at
#: either end); the Unicode rules (format characters, other spaces, NFC) are in the description.
SAFE_TEXT_PATTERN: Final = r"^[^ \x00-\x1f\x7f](?:[^\x00-\x1f\x7f]*[^ \x00-\x1f\x7f])?$"
#: ``SAFE_TEXT_PATTERN`` for a user id: also no ``/``, and not ``.`` or ``..``.
USER_ID_PATTERN: Final = r"^(?!\.\.?$)[^ /\x00-\x1f\x7f](?:[^/\x00-\x1f\x7f]*[^ /\x00-\x1f\x7f])?$"
USER_ID_RULES: Final = (
    f"A player's id: 1 to {MAX_USER_ID} characters; {_RULES}; no '/', not '.' or '..'."
)

UserId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_USER_ID,
        description=USER_ID_RULES,
        json_schema_extra={"pattern": USER_ID_PATTERN},
    ),
    _pydantic_rule(user_id),
]
Currency = Annotated[
    str,
    Field(pattern=r"^[A-Za-z0-9]{3,8}$", description="ISO 4217 code (or a configured extra)."),
    _pydantic_rule(currency),
]
IdempotencyKey = Annotated[
    str,
    Field(min_length=1, max_length=MAX_KEY, description=f"An idempotency key: {_RULES}."),
    _pydantic_rule(idempotency_key),
]
ProviderId = Annotated[
    str,
    Field(min_length=1, max_length=MAX_PROVIDER_ID, description=f"A provider's id: {_RULES}."),
    _pydantic_rule(provider_id),
]
