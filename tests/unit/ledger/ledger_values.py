"""Plain values for the decision core's unit tests: commands, stored state and a decide helper."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from services.ledger.decide import decide
from services.ledger.model import (
    Account,
    AccountStatus,
    AccountType,
    Bet,
    BetState,
    Decision,
    Grant,
    Movement,
    OutboxEvent,
    PlaceBet,
    Policy,
    Session,
)
from services.ledger.state import BatchState
from shared.contracts.commands import (
    Generation,
    Mode,
    OperatorCommand,
    OperatorKind,
    WebhookEnvelope,
    WebhookKind,
)
from shared.jsonwire import loads_exact

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
USER = "u1"
TOKEN = "tok-u1"


def webhook(
    kind: WebhookKind, tx: str | None, amount: str | None = "10.00", **fields: Any
) -> WebhookEnvelope:
    values: dict[str, Any] = {
        "kind": kind,
        "generation": Generation.V4,
        "provider": "hypetech",
        "provider_tx_id": tx,
        "user_id": USER,
        "currency": "USD",
        "amount": None if amount is None else Decimal(amount),
        "round_id": "r1",
        "session_token": TOKEN,
        "received_at": NOW,
    }
    values.update(fields)
    return WebhookEnvelope(**values)


def bet(tx: str = "b1", amount: str = "10.00", **fields: Any) -> WebhookEnvelope:
    return webhook(WebhookKind.BET, tx, amount, **fields)


def win(tx: str = "w1", amount: str = "25.00", **fields: Any) -> WebhookEnvelope:
    return webhook(WebhookKind.WIN, tx, amount, **fields)


def lose(tx: str = "l1", **fields: Any) -> WebhookEnvelope:
    return webhook(WebhookKind.LOSE, tx, "0", **fields)


def rollback(tx: str = "rb1", amount: str | None = None, **fields: Any) -> WebhookEnvelope:
    return webhook(WebhookKind.ROLLBACK, tx, amount, **fields)


def operator(
    kind: OperatorKind, key: str, amount: str | None = None, **fields: Any
) -> OperatorCommand:
    values: dict[str, Any] = {
        "kind": kind,
        "idempotency_key": key,
        "user_id": USER,
        "currency": "USD",
        "amount": None if amount is None else Decimal(amount),
        "requested_at": NOW,
    }
    values.update(fields)
    return OperatorCommand(**values)


def state_with(
    balance: int = 100_00,
    *,
    status: AccountStatus = AccountStatus.ACTIVE,
    account: bool = True,
    session: bool = True,
) -> BatchState:
    state = BatchState()
    if account:
        state.accounts[(USER, "USD")] = Account(USER, "USD", status, balance)
    if session:
        state.sessions[TOKEN] = Session(TOKEN, USER, "USD", NOW + timedelta(hours=1))
    return state


def stored_bet(
    state: BatchState,
    tx: str = "b1",
    *,
    amount: int = 10_00,
    state_: BetState = BetState.OPEN,
    round_id: str = "r1",
    mode: Mode = Mode.DEFAULT,
    grant_id: int | None = None,
) -> Bet:
    placed = Bet(
        "hypetech",
        tx,
        USER,
        "USD",
        round_id,
        amount,
        mode.value,
        None,
        grant_id,
        state_,
        "op-" + tx,
    )
    state.add_bet(placed)
    return placed


def grant(
    state: BatchState, grant_id: int = 1, remaining: int = 1, bonus_code: str | None = None
) -> None:
    state.grants[grant_id] = Grant(
        grant_id, USER, "USD", bonus_code, remaining, NOW + timedelta(days=1)
    )


def run(
    state: BatchState, command: WebhookEnvelope | OperatorCommand, policy: Policy | None = None
) -> Decision:
    """Decide and fold the decision into the state, as the consumer does."""
    decision = decide(state, command, policy or Policy())
    state.apply(decision)
    return decision


def body(decision: Decision) -> dict[str, Any]:
    parsed: dict[str, Any] = loads_exact(decision.body)
    return parsed


def slug(decision: Decision) -> str:
    return str(body(decision)["type"]).rsplit("/", 1)[-1]


E = TypeVar("E")


def effects_of(decision: Decision, kind: type[E]) -> list[E]:
    """The decision's effects of one type, in order."""
    return [effect for effect in decision.effects if isinstance(effect, kind)]


def one_of(decision: Decision, kind: type[E]) -> E | None:
    """The decision's one effect of ``kind``, or None (more than one fails the test)."""
    found = effects_of(decision, kind)
    assert len(found) <= 1, found
    return found[0] if found else None


def movement_of(decision: Decision) -> Movement | None:
    return one_of(decision, Movement)


def events_of(decision: Decision) -> list[OutboxEvent]:
    return effects_of(decision, OutboxEvent)


def placed_bet(decision: Decision) -> Bet | None:
    placed = one_of(decision, PlaceBet)
    return None if placed is None else placed.bet


def moved(decision: Decision) -> int:
    """What the decision moves on the player's balance: the sum of its player postings."""
    return sum(
        posting.amount
        for movement in effects_of(decision, Movement)
        for posting in movement.postings
        if posting.account_type is AccountType.PLAYER
    )
