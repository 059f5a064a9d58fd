"""The normaliser turns every documented webhook shape into the one envelope, exactly."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from services.ingress.normalise import (
    InvalidAmountField,
    InvalidField,
    MalformedRequest,
    UnknownCurrencyField,
    merge_fields,
    normalise,
)
from shared.contracts.commands import Generation, Mode, WebhookEnvelope, WebhookKind
from shared.currencies import CurrencyTable
from tests.unit.ingress import hypetech_examples as ex

NOW = datetime(2026, 5, 4, 14, 30, tzinfo=UTC)


def envelope(
    kind: WebhookKind,
    body: bytes = b"",
    query: tuple[tuple[str, str], ...] = (),
    *,
    method: str = "POST",
    current_route: bool = False,
) -> WebhookEnvelope:
    fields = merge_fields(query, body)
    return normalise(kind, fields, received_at=NOW, method=method, current_route=current_route)


def concrete(raw: bytes) -> bytes:
    """A V4 schema example with its placeholder currency and mode made real."""
    return ex.with_currency(raw).replace(b'"mode":"string"', b'"mode":"default"')


# --- every example of Hypetech's docs -------------------------------------------------------


def test_normalises_the_v4_bet_example_with_its_query_string() -> None:
    env = envelope(WebhookKind.BET, ex.V4_BET, ex.V4_BET_QUERY)

    assert env.generation is Generation.V4
    assert (env.user_id, env.currency, env.amount) == ("26", "USD", Decimal("200.00"))
    assert (env.provider, env.provider_tx_id, env.round_id) == ("hypetech", "559", "255")
    assert (env.mode, env.count_register, env.bonus_code) == (Mode.DEFAULT, 1, "FREEBET2024")
    assert (env.extra_data, env.game, env.action) == ("Extra Data", "aviador", "bet")
    assert env.session_token == "b72afc947ed1809d9a993d378733cfea"


def test_normalises_the_v1_bet_example_reading_action_id_as_the_round() -> None:
    env = envelope(WebhookKind.BET, ex.V1_BET)

    assert env.generation is Generation.V1
    assert (env.provider, env.round_id, env.platform) == ("hypetech_rocket", "255", "desktop")
    assert env.amount == Decimal("200.00")


def test_normalises_the_v2_bet_example() -> None:
    env = envelope(WebhookKind.BET, ex.V2_BET)

    assert env.generation is Generation.V2
    assert (env.round_id, env.count_register, env.mode) == ("255", 1, Mode.DEFAULT)


def test_normalises_the_v3_bet_sent_as_get_with_only_a_query_string() -> None:
    env = envelope(WebhookKind.BET, b"", ex.V4_BET_QUERY[:11], method="GET")

    assert env.generation is Generation.V3
    assert (env.amount, env.provider_tx_id, env.count_register) == (Decimal("200.00"), "559", 1)


def test_normalises_the_v1_win_example_whatever_its_action_says() -> None:
    env = envelope(WebhookKind.WIN, ex.V1_WIN)

    assert (env.kind, env.generation) == (WebhookKind.WIN, Generation.V1)
    assert (env.provider_tx_id, env.round_id, env.action) == ("600", "177", "bet")


def test_normalises_the_v2_win_example() -> None:
    env = envelope(WebhookKind.WIN, ex.V2_WIN)

    assert (env.generation, env.provider_tx_id, env.round_id) == (Generation.V2, "559", "255")
    assert env.linked_tx_id is None


def test_normalises_the_v3_win_sent_as_get() -> None:
    env = envelope(WebhookKind.WIN, b"", ex.V3_WIN_QUERY, method="GET")

    assert (env.generation, env.mode, env.count_register) == (Generation.V3, Mode.DEFAULT, 1)


def test_rejects_the_v4_win_schema_example_verbatim_for_its_placeholder_currency() -> None:
    with pytest.raises(UnknownCurrencyField):
        envelope(WebhookKind.WIN, ex.V4_WIN_SCHEMA)


def test_normalises_the_v4_win_schema_with_numeric_ids_and_the_misspelt_aggregator() -> None:
    env = envelope(WebhookKind.WIN, concrete(ex.V4_WIN_SCHEMA))

    assert env.generation is Generation.V4
    assert (env.provider_tx_id, env.amount, env.count_register) == ("0", Decimal("0.00"), 0)
    assert (env.linked_tx_id, env.aggregator, env.bonus_code) == (None, "string", "string")


def test_normalises_the_v1_lose() -> None:
    env = envelope(WebhookKind.LOSE, ex.V1_LOSE)

    assert (env.kind, env.generation, env.round_id) == (WebhookKind.LOSE, Generation.V1, "177")


def test_normalises_the_v2_lose() -> None:
    env = envelope(WebhookKind.LOSE, ex.V2_LOSE)

    assert (env.generation, env.provider_tx_id, env.action) == (Generation.V2, "602", "lose")


def test_normalises_the_v1_rollback_targeting_its_rollback_provider_tx_id() -> None:
    env = envelope(WebhookKind.ROLLBACK, ex.V1_ROLLBACK)

    assert (env.generation, env.currency, env.round_id) == (Generation.V1, "BRL", "255")
    assert (env.provider_tx_id, env.rollback_target) == ("559", "651")


def test_normalises_the_v2_rollback_targeting_its_own_provider_tx_id() -> None:
    env = envelope(WebhookKind.ROLLBACK, ex.V2_ROLLBACK)

    assert (env.generation, env.rollback_target) == (Generation.V2, "559")


def test_normalises_the_v4_rollback_schema_with_the_correct_aggregator_spelling() -> None:
    env = envelope(WebhookKind.ROLLBACK, concrete(ex.V4_ROLLBACK_SCHEMA))

    assert (env.generation, env.provider_tx_id, env.aggregator) == (Generation.V4, "0", "string")
    assert (env.extra_data, env.round_id, env.amount) == ("string", "string", Decimal("0.00"))


def test_rejects_the_v4_rollback_schema_example_verbatim_for_its_placeholder_currency() -> None:
    with pytest.raises(UnknownCurrencyField):
        envelope(WebhookKind.ROLLBACK, ex.V4_ROLLBACK_SCHEMA)


def test_normalises_the_v3_bet_like_balance_read() -> None:
    env = envelope(WebhookKind.BALANCE, b"", ex.V3_BALANCE_QUERY, method="GET")

    assert (env.kind, env.generation, env.provider_tx_id) == (
        WebhookKind.BALANCE,
        Generation.V3,
        "559",
    )
    assert env.amount is None


def test_normalises_the_v4_balance_read() -> None:
    env = envelope(WebhookKind.BALANCE, ex.with_currency(ex.V4_BALANCE_SCHEMA, "BRL"))

    assert (env.generation, env.user_id, env.currency) == (Generation.V4, "string", "BRL")
    assert (env.session_token, env.provider, env.provider_tx_id) == ("string", "hypetech", None)


def test_rejects_the_v4_balance_example_verbatim_for_its_placeholder_currency() -> None:
    with pytest.raises(UnknownCurrencyField):
        envelope(WebhookKind.BALANCE, ex.V4_BALANCE_SCHEMA)


# --- merging and generations ------------------------------------------------------------


def test_lets_the_body_win_over_the_query_string() -> None:
    env = envelope(WebhookKind.BET, b'{"amount":"5.5"}', ex.V4_BET_QUERY)

    assert env.amount == Decimal("5.50")


def test_reads_a_post_on_a_current_route_without_markers_as_v4() -> None:
    env = envelope(WebhookKind.BET, ex.V2_BET, current_route=True)

    assert env.generation is Generation.V4


# --- ids --------------------------------------------------------------------------------


def test_keeps_a_huge_numeric_provider_tx_id_exact() -> None:
    env = envelope(WebhookKind.WIN, ex.V2_WIN.replace(b'"559"', b"123456789012345678901234567890"))

    assert env.provider_tx_id == "123456789012345678901234567890"


def test_writes_a_numeric_id_with_an_exponent_as_its_integer_text() -> None:
    env = envelope(WebhookKind.WIN, ex.V2_WIN.replace(b'"559"', b"1E+3"))

    assert env.provider_tx_id == "1000"


def test_gives_a_number_and_its_string_the_same_id() -> None:
    as_number = envelope(WebhookKind.WIN, ex.V2_WIN.replace(b'"559"', b"559.0"))

    assert as_number.provider_tx_id == envelope(WebhookKind.WIN, ex.V2_WIN).provider_tx_id


def test_reads_a_numeric_linked_tx_id_as_the_rollback_target() -> None:
    env = envelope(
        WebhookKind.ROLLBACK,
        concrete(ex.V4_ROLLBACK_SCHEMA).replace(
            b'"linked_tx_id":0', b'"linked_tx_id":98765432109876543210'
        ),
    )

    assert env.rollback_target == "98765432109876543210"


def test_rejects_a_boolean_provider_tx_id_naming_the_field() -> None:
    with pytest.raises(InvalidField) as caught:
        envelope(WebhookKind.BET, ex.V2_BET.replace(b'"559"', b"true"))

    assert caught.value.field == "provider_tx_id"


def test_rejects_a_numeric_id_with_a_huge_exponent() -> None:
    with pytest.raises(InvalidField) as caught:
        envelope(WebhookKind.BET, ex.V2_BET.replace(b'"559"', b"1e400"))

    assert caught.value.field == "provider_tx_id"


@pytest.mark.parametrize(
    "name", ["user_id", "currency", "provider", "provider_tx_id", "round_id", "session_token"]
)
def test_rejects_a_bet_without_a_required_field_naming_it(name: str) -> None:
    fields = merge_fields((), ex.V2_BET)
    del fields[name]

    with pytest.raises(InvalidField) as caught:
        normalise(WebhookKind.BET, fields, received_at=NOW)

    assert caught.value.field == name


def test_accepts_a_win_without_a_session_token() -> None:
    fields = merge_fields((), ex.V2_WIN)
    del fields["session_token"]

    assert normalise(WebhookKind.WIN, fields, received_at=NOW).session_token is None


def test_rejects_an_object_where_a_string_belongs() -> None:
    with pytest.raises(InvalidField) as caught:
        envelope(WebhookKind.BET, ex.V2_BET.replace(b'"aviador"', b'{"a":1}'))

    assert caught.value.field == "game"


# --- amounts ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"200", "200.00"),
        (b"0.1", "0.10"),
        (b"1e2", "100.00"),
        (b'"10.50"', "10.50"),
        (b"10.299999999999999", "10.30"),
    ],
)
def test_parses_a_bet_amount_exactly(raw: bytes, expected: str) -> None:
    env = envelope(WebhookKind.BET, ex.V2_BET.replace(b'"amount":200', b'"amount":' + raw))

    assert env.amount == Decimal(expected)


@pytest.mark.parametrize(
    "raw", [b"0", b"-1", b"0.001", b'"NaN"', b'"abc"', b"1e400", b'"Infinity"', b'""']
)
def test_rejects_an_invalid_bet_amount(raw: bytes) -> None:
    with pytest.raises(InvalidAmountField):
        envelope(WebhookKind.BET, ex.V2_BET.replace(b'"amount":200', b'"amount":' + raw))


def test_accepts_a_win_of_zero() -> None:
    env = envelope(WebhookKind.WIN, ex.V2_WIN.replace(b'"amount":200', b'"amount":0'))

    assert env.amount == Decimal("0.00")


def test_accepts_a_free_bet_of_zero() -> None:
    body = ex.V4_BET.replace(b'"default"', b'"free"').replace(b'"amount":200', b'"amount":0')

    env = envelope(WebhookKind.BET, body)

    assert (env.mode, env.amount) == (Mode.FREE, Decimal("0.00"))


def test_keeps_every_digit_of_a_long_fractional_numeric_id() -> None:
    body = ex.V4_BET.replace(
        b'"provider_tx_id":"559"', b'"provider_tx_id":1234567890123456789012345678.91'
    )

    env = envelope(WebhookKind.BET, body)

    assert env.provider_tx_id == "1234567890123456789012345678.91"


def test_rejects_a_boolean_amount_as_an_invalid_field() -> None:
    with pytest.raises(InvalidField) as caught:
        envelope(WebhookKind.BET, ex.V2_BET.replace(b'"amount":200', b'"amount":true'))

    assert caught.value.field == "amount"


def test_respects_a_zero_decimal_currency() -> None:
    with pytest.raises(InvalidAmountField):
        envelope(WebhookKind.BET, ex.V2_BET.replace(b'"USD"', b'"JPY"').replace(b"200", b"200.5"))


def test_accepts_a_configured_extra_currency() -> None:
    fields = merge_fields((), ex.V2_BET.replace(b'"USD"', b'"USDT"').replace(b"200", b"0.000001"))

    env = normalise(WebhookKind.BET, fields, received_at=NOW, currencies=CurrencyTable({"USDT": 6}))

    assert (env.currency, env.amount) == ("USDT", Decimal("0.000001"))


def test_rejects_an_unknown_currency() -> None:
    with pytest.raises(UnknownCurrencyField):
        envelope(WebhookKind.BET, ex.V2_BET.replace(b'"USD"', b'"XYZ"'))


# --- other fields -----------------------------------------------------------------------


def test_reads_a_free_bet_mode_in_any_case() -> None:
    env = envelope(WebhookKind.BET, ex.V4_BET.replace(b'"default"', b'"FREE"'))

    assert env.mode is Mode.FREE


def test_rejects_an_unknown_mode() -> None:
    with pytest.raises(InvalidField) as caught:
        envelope(WebhookKind.BET, ex.V4_BET.replace(b'"default"', b'"bonus"'))

    assert caught.value.field == "mode"


@pytest.mark.parametrize(("raw", "expected"), [(b'"3"', 3), (b"3", 3), (b"3.0", 3)])
def test_reads_count_register_as_an_integer(raw: bytes, expected: int) -> None:
    env = envelope(
        WebhookKind.BET, ex.V2_BET.replace(b'"count_register":"1"', b'"count_register":' + raw)
    )

    assert env.count_register == expected


@pytest.mark.parametrize("raw", [b'"one"', b"-1", b"1.5", b"true", b"1e400"])
def test_rejects_a_count_register_that_is_not_a_count(raw: bytes) -> None:
    with pytest.raises(InvalidField) as caught:
        envelope(
            WebhookKind.BET, ex.V2_BET.replace(b'"count_register":"1"', b'"count_register":' + raw)
        )

    assert caught.value.field == "count_register"


# --- malformed bodies --------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1,2]",
        b'"text"',
        b"\xff\xfe{}",
        b"[" * 100 + b"]" * 100,
        b'{"amount":NaN}',
        b'{"a":' + b"9" * 5000 + b"}",
    ],
)
def test_rejects_a_body_that_is_not_a_json_object(body: bytes) -> None:
    with pytest.raises(MalformedRequest):
        merge_fields((), body)


def test_accepts_an_empty_body_with_everything_in_the_query() -> None:
    assert merge_fields((("user_id", "26"),), b"  ") == {"user_id": "26"}


@pytest.mark.parametrize(
    ("name", "raw"),
    [("user_id", b'"a\\u0000b"'), ("user_id", b'"\\ud800"'), ("game", b'"x\\u001fy"'),
     ("provider_tx_id", b'"\\udfff1"'), ("extra_data", b'"\\ud83d"')],
)  # fmt: skip
def test_rejects_control_characters_and_unpaired_surrogates(name: str, raw: bytes) -> None:
    fields = merge_fields((), ex.V4_BET)
    fields[name] = merge_fields((), b'{"v":' + raw + b"}")["v"]

    with pytest.raises(InvalidField) as caught:
        normalise(WebhookKind.BET, fields, received_at=NOW)

    assert caught.value.field == name


def test_keeps_newlines_in_extra_data() -> None:
    env = envelope(WebhookKind.BET, ex.V4_BET.replace(b'"Extra Data"', b'"{\\n \\"a\\": 1}"'))

    assert env.extra_data == '{\n "a": 1}'
