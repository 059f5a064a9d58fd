"""A page of Hypetech's session transactions read on the lean path gives exactly what the
client's model gives: the same rows, the same evidence, and the same refusal of a bad page."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.reconciler.provider_rows import page_rows, provider_row
from services.reconciler.rows import ProviderRow, ProviderStatus
from shared.contracts.commands import WebhookKind
from shared.hypetech.client import parse_transactions_page
from shared.hypetech.errors import HypetechResponseInvalid
from shared.jsonwire import loads_exact

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


def page(*rows: dict[str, Any], total_pages: int = 1) -> dict[str, Any]:
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


def through_the_model(body: Any) -> tuple[list[ProviderRow], int] | str:
    try:
        parsed = parse_transactions_page(body)
    except HypetechResponseInvalid as exc:
        return str(exc)
    return [provider_row(tx) for tx in parsed.transactions], parsed.pagination.total_pages


def lean(body: Any) -> tuple[list[ProviderRow], int] | str:
    try:
        return page_rows(body)
    except HypetechResponseInvalid as exc:
        return str(exc)


def same(
    got: tuple[list[ProviderRow], int] | str, want: tuple[list[ProviderRow], int] | str
) -> bool:
    if isinstance(got, str) or isinstance(want, str):
        return got == want
    got_rows, got_pages = got
    want_rows, want_pages = want
    return (
        got_pages == want_pages
        and all(
            [getattr(g, f) for f in FIELDS] == [getattr(w, f) for f in FIELDS]
            and str(g.amount) == str(w.amount)
            and g.evidence() == w.evidence()
            for g, w in zip(got_rows, want_rows, strict=True)
        )
        and len(got_rows) == len(want_rows)
    )


def test_a_documented_page_is_read_into_rows_with_exact_amounts_and_its_page_count() -> None:
    body = loads_exact(
        b'{"transactions":[{"transactionId":7,"roundId":"R1","transactionType":"WIN",'
        b'"requestedAt":"2026-05-04T14: 30: 00Z","transactionStatus":"SUCCESS","amount":50.10,'
        b'"roundStatus":"FINISHED","linkedTransactionId":6,"mode":"free"}],'
        b'"pagination":{"pageSize":1,"pageNumber":1,"totalPages":3,"totalItems":3}}'
    )

    rows, total_pages = page_rows(body)

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
    assert row.evidence()["amount"] == "50.10"
    assert row.evidence()["mode"] == "free"


@pytest.mark.parametrize(
    "body",
    [
        page(listed(amount="50.10")),
        page(listed(transaction_id="10001")),
        page(listed(roundStatus=None, round_status="FINISHED")),
        page(listed(requestedAt=None)),
        page(listed(userId=42)),
        {
            "transactions": [listed()],
            "pagination": {"page_size": 1, "page_number": 1, "total_pages": 1, "total_items": 1},
        },
    ],
)
def test_a_page_the_lean_path_does_not_read_is_read_by_the_model(body: Any) -> None:
    assert same(lean(body), through_the_model(body))
    assert not isinstance(lean(body), str)


@pytest.mark.parametrize(
    "body",
    [
        page(listed(amount=True)),
        page(listed(amount=None)),
        page(listed(amount=Decimal("Infinity"))),
        page(listed(amount=Decimal("-Infinity"))),
        page(listed(amount=Decimal("NaN"))),
        page(listed(transactionId=10**5000)),
        page(listed(transactionId=None)),
        page(listed(transactionType=3)),
        page(listed(roundId=["R1"])),
        page(listed(userId=False)),
        page(listed(currency=840)),
        page({k: v for k, v in listed().items() if k != "transactionStatus"}),
        {"transactions": {}, "pagination": page()["pagination"]},
        {"transactions": [], "pagination": {"pageSize": "x"}},
        [listed()],
    ],
)
def test_a_bad_page_is_refused_with_the_models_reason(body: Any) -> None:
    refused = lean(body)

    assert isinstance(refused, str)
    assert refused == through_the_model(body)
    assert refused.startswith("unexpected TransactionsPage shape")


IDS = st.one_of(
    st.text(max_size=6), st.integers(-(10**20), 10**20), st.decimals(allow_nan=False, places=2)
)
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=8),
    st.integers(-(10**6), 10**6),
    st.decimals(),
    st.lists(st.integers(), max_size=2),
)
ROW = st.fixed_dictionaries(
    {
        "transactionId": st.one_of(IDS, VALUES),
        "transactionType": st.one_of(st.sampled_from(["BET", " win", "LOSS", "JACKPOT"]), VALUES),
        "transactionStatus": st.one_of(
            st.sampled_from(["SUCCESS", "ROLLED_BACK", "cancelled ", "REJECTED"]), VALUES
        ),
        "amount": st.one_of(st.integers(-(10**12), 10**12), st.decimals(), VALUES),
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
def test_any_page_reads_the_same_on_the_lean_path_as_through_the_model(
    rows: list[dict[str, Any]], total_pages: Any
) -> None:
    body = page(*rows)
    body["pagination"]["totalPages"] = total_pages

    assert same(lean(body), through_the_model(body))
