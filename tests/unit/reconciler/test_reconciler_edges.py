"""The reconciler's edges without I/O: Hypetech's rows and the request rate."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from services.reconciler.provider import RateLimiter
from services.reconciler.provider_rows import provider_row
from services.reconciler.rows import ProviderStatus
from shared.contracts.commands import (
    Generation,
    WebhookEnvelope,
    WebhookKind,
)
from shared.hypetech import SessionTransaction
from shared.jsonwire import loads_exact

NOW = datetime(2026, 5, 4, 15, 0, tzinfo=UTC)


def listed(**fields: object) -> SessionTransaction:
    row = {
        "transactionId": 10001,
        "roundId": "R1",
        "transactionType": "BET",
        "requestedAt": "2026-05-04T14: 30: 00Z",
        "transactionStatus": "SUCCESS",
        "amount": loads_exact("50.10"),
        "roundStatus": "FINISHED",
    }
    row.update(fields)
    return SessionTransaction.model_validate(row)


def test_a_listed_row_keeps_its_id_as_text_and_its_amount_exact() -> None:
    row = provider_row(listed())

    assert (row.tx_id, row.kind, row.amount, row.round_finished) == (
        "10001",
        WebhookKind.BET,
        Decimal("50.10"),
        True,
    )
    assert row.requested_at == datetime(2026, 5, 4, 14, 30, tzinfo=UTC)
    assert row.evidence()["amount"] == "50.1"  # the value, as either parser reads it


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("SUCCESS", ProviderStatus.SUCCESS),
        ("ROLLED_BACK", ProviderStatus.ROLLED_BACK),
        ("REJECTED", ProviderStatus.FAILED),
        ("FAILED", ProviderStatus.FAILED),
        ("SOMETHING_NEW", ProviderStatus.FAILED),
    ],
)
def test_only_applied_statuses_count_as_applied(status: str, expected: ProviderStatus) -> None:
    assert provider_row(listed(transactionStatus=status)).status is expected


def test_an_unknown_transaction_type_has_no_kind() -> None:
    assert provider_row(listed(transactionType="JACKPOT")).kind is None


async def test_the_rate_limiter_spaces_requests_evenly() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    limiter = RateLimiter(4, clock=lambda: 100.0, sleep=sleep)

    for _ in range(4):
        await limiter.acquire()

    assert slept == [0.25, 0.5, 0.75]


def webhook(kind: WebhookKind, tx: str | None = "9") -> bytes:
    return (
        WebhookEnvelope(
            kind=kind,
            generation=Generation.V4,
            provider="hypetech",
            provider_tx_id=tx,
            user_id="u1",
            currency="USD",
            amount=Decimal("2.50"),
            session_token="s1",
            linked_tx_id="8",
            received_at=NOW,
        )
        .model_dump_json()
        .encode()
    )
