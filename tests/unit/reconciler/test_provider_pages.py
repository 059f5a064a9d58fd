"""A page of Hypetech's session transactions read from its bytes by pydantic gives exactly what the
exact parser and the same model give: the same rows, the same evidence, the same refusals, and
amounts that no binary float rounds."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.reconciler.provider_rows import provider_row
from services.reconciler.rows import ProviderRow, ProviderStatus
from shared.contracts.commands import WebhookKind
from shared.hypetech.client import parse_transactions_page
from shared.hypetech.errors import HypetechResponseInvalid
from shared.hypetech.models import TransactionsPage
from shared.jsonwire import MalformedJson, loads_exact

FIELDS = (
    "tx_id",
    "kind",
    "status",
    "amount",
    "round_id",
    "round_finished",
    "linked_tx_id",
    "requested_at",
)


def page(*rows: dict[str, Any], total_pages: Any = 1) -> dict[str, Any]:
    return {
        "transactions": list(rows),
        "pagination": {
            "pageSize": 100,
            "pageNumber": 1,
            "totalPages": total_pages,
            "totalItems": len(rows),
        },
    }


def listed(**fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "transactionId": "10001",
        "roundId": "R1",
        "transactionType": "BET",
        "requestedAt": "2026-05-04T14:30:00Z",
        "transactionStatus": "SUCCESS",
        "amount": Decimal("50.10"),
        "roundStatus": "FINISHED",
        "userId": "u1",
        "currency": "USD",
    }
    row.update(fields)
    return row


def wire(body: Any) -> bytes:
    """JSON with every ``Decimal`` written as the number it is, digit for digit."""
    text = json.dumps(body, default=lambda d: f"<{d}>")
    return re.sub(r'"<([^>"]*)>"', r"\1", text).encode()


Read = tuple[list[ProviderRow], int] | str


def read(raw: bytes) -> Read:
    try:
        parsed = parse_transactions_page(raw)
    except HypetechResponseInvalid as exc:
        return exc.__class__.__name__
    return [provider_row(tx) for tx in parsed.transactions], parsed.pagination.total_pages


def read_exactly(raw: bytes) -> Read:
    """The reference: the exact-number parse, then the model."""
    try:
        parsed = TransactionsPage.model_validate(loads_exact(raw))
    except (MalformedJson, ValidationError):
        return HypetechResponseInvalid.__name__
    return [provider_row(tx) for tx in parsed.transactions], parsed.pagination.total_pages


def same(got: Read, want: Read) -> bool:
    if isinstance(got, str) or isinstance(want, str):
        return got == want
    got_rows, got_pages = got
    want_rows, want_pages = want
    return (
        got_pages == want_pages
        and len(got_rows) == len(want_rows)
        and all(
            [getattr(g, f) for f in FIELDS] == [getattr(w, f) for f in FIELDS]
            and g.evidence() == w.evidence()
            for g, w in zip(got_rows, want_rows, strict=True)
        )
    )


def test_a_documented_page_is_read_into_rows_with_exact_amounts_and_its_page_count() -> None:
    raw = (
        b'{"transactions":[{"transactionId":7,"roundId":"R1","transactionType":"WIN",'
        b'"requestedAt":"2026-05-04T14: 30: 00Z","transactionStatus":"SUCCESS","amount":50.10,'
        b'"roundStatus":"FINISHED","linkedTransactionId":6,"mode":"free"}],'
        b'"pagination":{"pageSize":1,"pageNumber":1,"totalPages":3,"totalItems":3}}'
    )

    rows, total_pages = read(raw)  # type: ignore[misc]

    (row,) = rows
    assert (row.tx_id, row.kind, row.status, row.amount, row.linked_tx_id) == (
        "7",
        WebhookKind.WIN,
        ProviderStatus.SUCCESS,
        Decimal("50.10"),
        "6",
    )
    assert row.requested_at == datetime(2026, 5, 4, 14, 30, tzinfo=UTC)
    assert row.round_finished
    assert total_pages == 3
    assert row.evidence()["amount"] == "50.1"
    assert row.evidence()["mode"] == "free"


@pytest.mark.parametrize(
    "amount",
    [
        "0.1000000000000000055511151231257827",
        "10.000000000000001",
        "123456789012345678901234567890.123456789",
        "1E+400",
        "2.5e-3",
        "0.30000000000000004",
    ],
)
def test_an_amount_no_binary_float_holds_is_read_digit_for_digit(amount: str) -> None:
    raw = wire(page(listed(amount=Decimal(amount))))

    rows, _ = read(raw)  # type: ignore[misc]

    assert rows[0].amount == Decimal(amount)
    assert rows[0].amount.as_tuple() == Decimal(amount).as_tuple()


@pytest.mark.parametrize(
    "raw",
    [
        wire(page(listed(amount="50.10"))),
        wire(page(listed(transaction_id="10001"))),
        wire(page(listed(userId=42, roundId=Decimal("7.50"), mode=Decimal("0.1")))),
        wire(page(listed(notes="12345678901234567 is a long number in a string"))),
        wire(page(listed(transactionId="123e4567-e89b-12d3-a456-426614174000"))),
    ],
)
def test_a_page_reads_the_same_whichever_parser_reads_its_numbers(raw: bytes) -> None:
    assert same(read(raw), read_exactly(raw))
    assert not isinstance(read(raw), str)


@pytest.mark.parametrize(
    "raw",
    [
        wire(page(listed(amount=True))),
        wire(page(listed(amount=None))),
        wire(page(listed(transactionId=None))),
        wire(page(listed(transactionType=3))),
        wire(page(listed(roundId=["R1"]))),
        wire(page(listed(currency=840))),
        wire({"transactions": {}, "pagination": page()["pagination"]}),
        wire([listed()]),
        wire(page(listed(), total_pages="x")),
        b'{"transactions":[],"pagination":{"pageSize":1,"pageNumber":1,"totalPages":1,'
        b'"totalItems":0},"x":NaN}',
        b'{"transactions":[{"amount":Infinity}]}',
        b'{"transactions": [',
        b"",
        b"\xff\xfe",
    ],
)
def test_a_bad_page_is_refused(raw: bytes) -> None:
    assert read(raw) == HypetechResponseInvalid.__name__
    assert read_exactly(raw) == HypetechResponseInvalid.__name__


def test_a_page_that_is_not_json_is_refused_as_such() -> None:
    with pytest.raises(HypetechResponseInvalid, match="the answer is not JSON"):
        parse_transactions_page(b'{"transactions": [')


IDS = st.one_of(
    st.text(max_size=6), st.integers(-(10**20), 10**20), st.decimals(allow_nan=False, places=2)
)
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=8),
    st.integers(-(10**6), 10**6),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.lists(st.integers(), max_size=2),
)
ROW = st.fixed_dictionaries(
    {
        "transactionId": st.one_of(IDS, VALUES),
        "transactionType": st.one_of(st.sampled_from(["BET", " win", "LOSS", "JACKPOT"]), VALUES),
        "transactionStatus": st.one_of(
            st.sampled_from(["SUCCESS", "ROLLED_BACK", "cancelled ", "REJECTED"]), VALUES
        ),
        "amount": st.one_of(
            st.integers(-(10**12), 10**12),
            st.decimals(allow_nan=False, allow_infinity=False),
            st.decimals(allow_nan=False, allow_infinity=False, places=2),
            VALUES,
        ),
    },
    optional={
        "roundId": st.one_of(IDS, VALUES),
        "requestedAt": st.one_of(
            st.sampled_from(["2026-05-04T14:30:00Z", "2026-05-04 14:30:00+02:00", "soon"]), VALUES
        ),
        "roundStatus": st.one_of(st.sampled_from(["FINISHED", "finished ", "FLYING"]), VALUES),
        "userId": st.one_of(IDS, VALUES),
        "currency": st.one_of(st.sampled_from(["USD", "BTC"]), VALUES),
        "linkedTransactionId": st.one_of(IDS, VALUES),
        "mode": VALUES,
        "round_id": IDS,
    },
)


@settings(max_examples=400)
@given(rows=st.lists(ROW, max_size=4), total_pages=st.one_of(st.integers(0, 5), VALUES))
def test_any_page_reads_as_the_exact_parser_and_the_model_read_it(
    rows: list[dict[str, Any]], total_pages: Any
) -> None:
    raw = wire(page(*rows, total_pages=total_pages))

    assert same(read(raw), read_exactly(raw))
