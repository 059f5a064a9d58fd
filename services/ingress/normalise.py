"""Turn one Hypetech webhook of any doc generation (V1..V4) into a ``WebhookEnvelope``.

Pure: no I/O, no clock (``received_at`` is passed in). The input is the merged field map of the
request (query string, then the JSON body on top: the body wins) and the kind of the route it
arrived on. Every rejection is a ``Rejection`` naming its problem slug, so the HTTP edge maps it to
an RFC 7807 answer through the one table in ``shared.contracts.problems``.

Reading rules (``docs/hypetech-api.md`` decides the contradictions between doc generations):

* the round is ``round_id``, else the V1 ``action_id``;
* ``provider_tx_id``, ``linked_tx_id`` and ``rollback_provider_tx_id`` may be JSON strings or
  numbers; numbers become their exact decimal text (``559``, ``1E+3`` -> ``"1000"``), never via
  ``float``. A ``linked_tx_id`` of ``0``, ``""`` or ``null`` means "no link" (the V4 schema's
  placeholder);
* amounts are JSON numbers or numeric strings, parsed exactly, with at most the currency's decimals
  (binary-float noise within 1e-9 is rounded, see ``shared.money``, and the envelope says so); bets
  need ``> 0``, every other money webhook ``>= 0``. The envelope carries the amount in minor units
  too, so the ledger does not parse it again;
* ``count_register`` is an integer or a string of digits; ``mode`` is ``default`` or ``free``;
* ``agreggator`` (sic, V4 win) and ``aggregator`` (V4 rollback) are the same field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal, localcontext
from typing import Any, Final

from shared.contracts.commands import Generation, Mode, WebhookEnvelope, WebhookKind
from shared.currencies import DEFAULT_CURRENCIES, CurrencyTable, UnknownCurrency
from shared.jsonwire import loads_exact
from shared.money import InvalidAmount, ParsedAmount, minor_to_decimal, parse_minor

MAX_ID_CHARS: Final = 128
MAX_TEXT_CHARS: Final = 256
MAX_EXTRA_DATA_CHARS: Final = 4096
#: Longest decimal text accepted for a numeric id (a JSON number with a huge exponent is refused).
MAX_ID_DIGITS: Final = 40

#: Control characters (NUL cannot even be stored in Postgres text) and unpaired surrogates (not
#: encodable as UTF-8): never part of an id or a name.
FORBIDDEN_CHARS: Final = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
#: ``extra_data`` is free text (maybe JSON): tabs and newlines are fine there.
FORBIDDEN_IN_FREE_TEXT: Final = re.compile("[\x00\ud800-\udfff]")

V1_MARKERS: Final = frozenset({"action_id", "platform", "rollback_provider_tx_id"})
V4_MARKERS: Final = frozenset(
    {"linked_tx_id", "bonus_code", "extra_data", "agreggator", "aggregator"}
)
ROUND_REQUIRED: Final = frozenset({WebhookKind.BET, WebhookKind.WIN, WebhookKind.LOSE})
BET_LIKE_BALANCE_MARKERS: Final = frozenset({"amount", "provider_tx_id", "round_id", "action"})


class Rejection(ValueError):
    """A webhook the ingress refuses before it reaches the ledger."""

    slug: str = "malformed-request"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class MalformedRequest(Rejection):
    slug = "malformed-request"


class InvalidField(Rejection):
    slug = "invalid-field"

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}", field=field)


class InvalidAmountField(Rejection):
    slug = "invalid-amount"

    def __init__(self, detail: str) -> None:
        super().__init__(f"amount: {detail}", field="amount")


class UnknownCurrencyField(Rejection):
    slug = "unknown-currency"

    def __init__(self, code: str) -> None:
        super().__init__(f"currency {code!r} is not a known ISO 4217 code", field="currency")


class UnsignedQuery(Rejection):
    slug = "invalid-signature"


def merge_fields(
    query: Iterable[tuple[str, str]], body: bytes, *, query_signed: bool = True
) -> dict[str, Any]:
    """The request's fields: the query string's, then the JSON body's on top (the body wins).

    An empty body is allowed (V3 GET webhooks may carry everything in the query string); a body
    that is not UTF-8 JSON, or not a JSON object, is ``MalformedRequest``. When the signature did
    not cover the query string (``query_signed`` false), the query may only repeat fields the body
    has (the body's values are used); a query field the body lacks is ``UnsignedQuery``, because
    nothing authenticates it.
    """
    query_fields: dict[str, Any] = dict(query)
    body_fields: dict[str, Any] = {}
    if body.strip():
        try:
            parsed = loads_exact(body)
        except ValueError as exc:  # MalformedJson, and int() refusing a number of >4300 digits
            raise MalformedRequest(str(exc)) from None
        if not isinstance(parsed, dict):
            raise MalformedRequest("the body must be a JSON object")
        body_fields = parsed
    if not query_signed:
        unsigned = sorted(name for name in query_fields if name not in body_fields)
        if unsigned:
            raise UnsignedQuery(
                "the Hype-Hash does not cover the query string, which carries fields the body "
                f"does not: {', '.join(unsigned[:5])}",
                field=unsigned[0],
            )
        return body_fields
    return query_fields | body_fields


def detect_generation(
    kind: WebhookKind, fields: Mapping[str, Any], *, method: str, current_route: bool
) -> Generation:
    """The doc generation the webhook was written in, from fields only one generation has.

    ``current_route`` is true when the request came in on a configured current-generation path that
    is not one of the legacy paths; it decides for a webhook without any marker field.
    """
    present = {name for name, value in fields.items() if value is not None}
    if present & V4_MARKERS:
        return Generation.V4
    if present & V1_MARKERS:
        return Generation.V1
    if kind is WebhookKind.BALANCE:
        return Generation.V3 if present & BET_LIKE_BALANCE_MARKERS else Generation.V4
    if method == "GET":
        return Generation.V3
    if current_route:
        return Generation.V4
    if kind is WebhookKind.WIN and present & {"mode", "count_register"}:
        return Generation.V3
    return Generation.V2


def normalise(
    kind: WebhookKind,
    fields: Mapping[str, Any],
    *,
    received_at: datetime,
    method: str = "POST",
    current_route: bool = False,
    currencies: CurrencyTable = DEFAULT_CURRENCIES,
) -> WebhookEnvelope:
    """Validate the merged fields of one webhook and build its envelope."""
    generation = detect_generation(kind, fields, method=method, current_route=current_route)
    reader = _Reader(fields)
    user_id = reader.required_identifier("user_id")
    currency = reader.currency(currencies)
    session_token = reader.text("session_token", required=kind is WebhookKind.BET)
    common: dict[str, Any] = {
        "kind": kind,
        "generation": generation,
        "user_id": user_id,
        "currency": currency,
        "session_token": session_token,
        "received_at": received_at,
    }
    if kind is WebhookKind.BALANCE:
        return WebhookEnvelope(
            **common,
            provider=reader.text("provider") or "hypetech",
            provider_tx_id=reader.identifier("provider_tx_id"),
            round_id=reader.round_id(required=False),
            game=reader.text("game"),
            action=reader.text("action"),
        )
    linked = reader.link("linked_tx_id")
    rollback_target = reader.link("rollback_provider_tx_id")
    mode = reader.mode()
    # A free bet may carry its value or 0 (the docs do not say which): only a paid bet must be > 0.
    paid_bet = kind is WebhookKind.BET and mode is Mode.DEFAULT
    provider = reader.required_text("provider")  # the fields are read, and refused, in this order
    provider_tx_id = reader.required_identifier("provider_tx_id")
    amount = reader.amount(currency, currencies, positive=paid_bet)
    return WebhookEnvelope(
        **common,
        provider=provider,
        provider_tx_id=provider_tx_id,
        amount=minor_to_decimal(amount.minor, currency, currencies),
        amount_minor=amount.minor,
        amount_noise_rounded=amount.noise_rounded,
        round_id=reader.round_id(required=kind in ROUND_REQUIRED),
        game=reader.text("game"),
        mode=mode,
        bonus_code=reader.text("bonus_code"),
        linked_tx_id=linked,
        rollback_provider_tx_id=rollback_target,
        count_register=reader.count_register(),
        extra_data=reader.extra_data(),
        aggregator=reader.text("aggregator") or reader.text("agreggator"),
        platform=reader.text("platform"),
        action=reader.text("action"),
    )


class _Reader:
    """Typed access to the merged fields, raising the rejection that names the field."""

    def __init__(self, fields: Mapping[str, Any]) -> None:
        self._fields = fields

    def _get(self, name: str, *, required: bool) -> Any:
        value = self._fields.get(name)
        if isinstance(value, str) and not value.strip():
            value = None
        if value is None and required:
            raise InvalidField(name, "is required")
        return value

    def text(
        self,
        name: str,
        *,
        required: bool = False,
        limit: int = MAX_TEXT_CHARS,
        forbidden: re.Pattern[str] = FORBIDDEN_CHARS,
    ) -> str | None:
        value = self._get(name, required=required)
        if value is None:
            return None
        if not isinstance(value, str):
            raise InvalidField(name, f"must be a string, not {_json_type(value)}")
        if len(value) > limit:
            raise InvalidField(name, f"must be at most {limit} characters")
        if forbidden.search(value):
            raise InvalidField(name, "must not hold control characters or unpaired surrogates")
        return value

    def required_text(self, name: str, *, limit: int = MAX_TEXT_CHARS) -> str:
        value = self.text(name, required=True, limit=limit)
        assert value is not None  # noqa: S101 - text(required=True) never returns None
        return value

    def required_identifier(self, name: str) -> str:
        value = self.identifier(name, required=True)
        assert value is not None  # noqa: S101 - identifier(required=True) never returns None
        return value

    def identifier(self, name: str, *, required: bool = False) -> str | None:
        """An id sent as a JSON string or number; numbers become their exact decimal text."""
        value = self._get(name, required=required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            raise InvalidField(name, f"must be a string or a number, not {_json_type(value)}")
        if isinstance(value, str):
            if len(value) > MAX_ID_CHARS:
                raise InvalidField(name, f"must be at most {MAX_ID_CHARS} characters")
            if FORBIDDEN_CHARS.search(value):
                raise InvalidField(name, "must not hold control characters or unpaired surrogates")
            return value
        return _number_text(name, value)

    def link(self, name: str) -> str | None:
        """A reference to another transaction; ``0`` is the V4 schema's "no link" placeholder."""
        value = self.identifier(name)
        return None if value == "0" else value

    def round_id(self, *, required: bool) -> str | None:
        round_id = self.identifier("round_id")
        if round_id is None:
            round_id = self.identifier("action_id")
        if round_id is None and required:
            raise InvalidField("round_id", "is required (or the older action_id)")
        return round_id

    def currency(self, currencies: CurrencyTable) -> str:
        code = self.required_text("currency", limit=16).strip().upper()
        if code not in currencies:
            raise UnknownCurrencyField(code)
        return code

    def amount(self, currency: str, currencies: CurrencyTable, *, positive: bool) -> ParsedAmount:
        """The amount in minor units (parsed here, once) and whether float noise was rounded."""
        value = self._fields.get("amount")
        if value is None:
            raise InvalidField("amount", "is required")
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            raise InvalidField("amount", f"must be a number, not {_json_type(value)}")
        try:
            parsed = parse_minor(value, currency, currencies)
        except InvalidAmount as exc:
            raise InvalidAmountField(str(exc)) from None
        except UnknownCurrency as exc:  # pragma: no cover - the currency was checked first
            raise UnknownCurrencyField(exc.code) from None
        if parsed.minor < 0 or (positive and parsed.minor == 0):
            raise InvalidAmountField("must be > 0" if positive else "must not be negative")
        return parsed

    def mode(self) -> Mode:
        value = self.text("mode", limit=16)
        if value is None:
            return Mode.DEFAULT
        try:
            return Mode(value.strip().lower())
        except ValueError:
            raise InvalidField("mode", "must be 'default' or 'free'") from None

    def count_register(self) -> int | None:
        value = self._get("count_register", required=False)
        if value is None:
            return None
        if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 9:
            return int(value.strip())
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**9:
            return value
        if isinstance(value, Decimal) and value.is_finite() and 0 <= value < 10**9:
            whole = value % 1 == 0
            if whole:
                return int(value)
        raise InvalidField("count_register", "must be a non-negative integer or a string of digits")

    def extra_data(self) -> str | None:
        """Pass-through text (Create Session's ``extra_data`` echoed back), kept verbatim."""
        return self.text("extra_data", limit=MAX_EXTRA_DATA_CHARS, forbidden=FORBIDDEN_IN_FREE_TEXT)


def _number_text(name: str, value: int | Decimal) -> str:
    """Exact decimal text of a numeric id: integers without exponent, never through ``float``."""
    if isinstance(value, Decimal):
        if not value.is_finite() or value.adjusted() > MAX_ID_DIGITS:
            raise InvalidField(name, f"must be a finite number of at most {MAX_ID_DIGITS} digits")
        if value == value.to_integral_value():
            value = int(value)
        else:
            with localcontext() as exact:  # normalize() rounds to the context's precision
                exact.prec = 2 * MAX_ID_DIGITS
                text = format(value.normalize(), "f")
            if len(text) > MAX_ID_DIGITS:
                raise InvalidField(name, f"must have at most {MAX_ID_DIGITS} digits")
            return text
    text = str(value)
    if len(text) > MAX_ID_DIGITS:
        raise InvalidField(name, f"must have at most {MAX_ID_DIGITS} digits")
    return text


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    return "a number"
