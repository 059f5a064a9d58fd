"""Builders of plain provider and ledger rows for the matcher's tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from services.reconciler.rows import LedgerRow, ProviderRow, ProviderStatus
from shared.contracts.bets import BetState
from shared.contracts.commands import WebhookKind

NOW = datetime(2026, 5, 4, 15, 0, tzinfo=UTC)
GRACE = timedelta(minutes=10)
OLD = NOW - timedelta(hours=1)


def prow(
    tx_id: str,
    kind: WebhookKind = WebhookKind.BET,
    *,
    amount: str = "10.00",
    status: ProviderStatus = ProviderStatus.SUCCESS,
    round_id: str = "r1",
    finished: bool = False,
    linked: str | None = None,
    requested_at: datetime | None = OLD,
) -> ProviderRow:
    return ProviderRow(
        tx_id=tx_id,
        kind=kind,
        status=status,
        amount=Decimal(amount),
        round_id=round_id,
        round_finished=finished,
        linked_tx_id=linked,
        requested_at=requested_at,
        raw={"transactionId": tx_id, "transactionType": kind.value.upper(), "amount": amount},
    )


def lrow(
    tx_id: str,
    kind: WebhookKind = WebhookKind.BET,
    *,
    amount: str | None = "10",
    accepted: bool = True,
    round_id: str = "r1",
    state: BetState | None = None,
    target: str | None = None,
    decided_at: datetime = OLD,
) -> LedgerRow:
    if kind is WebhookKind.BET and state is None and accepted:
        state = BetState.WON
    return LedgerRow(
        kind=kind,
        tx_id=tx_id,
        accepted=accepted,
        http_status=200 if accepted else 403,
        amount=None if amount is None else Decimal(amount),
        currency="USD",
        user_id="u1",
        round_id=round_id,
        decided_at=decided_at,
        bet_state=state,
        rollback_target=target,
    )
