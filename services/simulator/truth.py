"""The simulator's own truth: what Hypetech believes about every player, session and transaction.

Everything the demo and the reconciler's tests check is answered from here: each player's balance
as the provider believes it (and as the operator should hold it, given what was really delivered),
every transaction with its status, every round with its seed, and every fault injected.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from shared.currencies import DEFAULT_CURRENCIES, CurrencyTable
from shared.money import format_minor


class TxType(StrEnum):
    BET = "BET"
    WIN = "WIN"
    LOSE = "LOSE"
    ROLLBACK = "ROLLBACK"


class TxStatus(StrEnum):
    PENDING = "PENDING"
    SUCCESS = "SUCCESS"
    """Applied, as the provider believes."""
    REJECTED = "REJECTED"
    """The operator answered a non-200 to a bet: the round went on without it."""
    ROLLED_BACK = "ROLLED_BACK"
    """A bet that a later rollback cancelled."""
    FAILED = "FAILED"
    """No answer after every retry."""


class RoundStatus(StrEnum):
    BETTING = "BETTING"
    FLYING = "FLYING"
    FINISHED = "FINISHED"


class FaultKind(StrEnum):
    DUPLICATE = "duplicate"
    ROLLBACK_BEFORE_BET = "rollback_before_bet"
    LOST_REPLY = "lost_reply"
    DRIFT = "drift"
    WRONG_ROLLBACK_AMOUNT = "wrong_rollback_amount"


@dataclass
class Player:
    user_id: str
    currency: str
    provider_minor: int
    """The balance the provider believes the player has."""
    expected_operator_minor: int
    """The balance the operator should hold, given what was actually delivered to it."""
    operator_reported: str | None = None
    """The last balance the operator answered with (text as received)."""


@dataclass
class Session:
    token: str
    user_id: str
    username: str
    game: str
    currency: str
    created_at: datetime
    expires_at: datetime
    extra_data: str | None = None
    opened: bool = False


@dataclass
class FreeBetGrant:
    user_id: str
    game_slug: str
    currency: str
    quantity: int
    value_minor: int
    expires_at: str
    bonus_code: str | None
    max_multiplier_x100: int | None = None
    used: int = 0

    def usable_at(self, moment: datetime) -> bool:
        if self.used >= self.quantity:
            return False
        try:
            expires = datetime.fromisoformat(self.expires_at.replace("Z", "+00:00"))
        except ValueError:
            return True
        return expires.tzinfo is None or expires > moment


@dataclass
class Transaction:
    tx_id: str
    type: TxType
    session_token: str
    user_id: str
    currency: str
    round_id: str
    amount_minor: int
    requested_at: datetime
    linked_tx_id: str | None = None
    mode: str = "default"
    bonus_code: str | None = None
    status: TxStatus = TxStatus.PENDING
    delivered: bool = False
    attempts: int = 0
    operator_status: int | None = None
    operator_body: str | None = None
    faults: list[str] = field(default_factory=list)


def problem_slug(status: int | None, body: str | None) -> str | None:
    """The problem type the operator refused a transaction with (the last segment of the
    problem's ``type``); None when it was accepted or never answered."""
    if status is None or status == 200 or not body:
        return None
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    kind = parsed.get("type") if isinstance(parsed, dict) else None
    return kind.rsplit("/", 1)[-1] if isinstance(kind, str) else None


@dataclass
class Round:
    round_id: str
    number: int
    seed_hash: str
    status: RoundStatus = RoundStatus.BETTING
    seed: str | None = None
    crash_point: Decimal | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class FaultRecord:
    kind: FaultKind
    tx_id: str
    tx_type: TxType
    user_id: str
    round_id: str
    detail: str = ""


class Truth:
    def __init__(self, currencies: CurrencyTable = DEFAULT_CURRENCIES) -> None:
        self.currencies = currencies
        self.players: dict[tuple[str, str], Player] = {}
        self.sessions: dict[str, Session] = {}
        self.transactions: list[Transaction] = []
        self._by_key: dict[tuple[TxType, str], Transaction] = {}
        self._by_session: dict[str, list[Transaction]] = {}
        self.rounds: dict[str, Round] = {}
        self.free_bets: list[FreeBetGrant] = []
        self.faults: list[FaultRecord] = []
        self.fault_counts: Counter[str] = Counter()
        self.fairness: dict[str, Any] = {}

    # -- writes -------------------------------------------------------------------------

    def open_session(self, session: Session, balance_minor: int | None) -> Player:
        self.sessions[session.token] = session
        key = (session.user_id, session.currency)
        player = self.players.get(key)
        if player is None:
            start = balance_minor or 0
            player = Player(session.user_id, session.currency, start, start)
            self.players[key] = player
        elif balance_minor is not None:
            player.provider_minor = balance_minor
            player.expected_operator_minor = balance_minor
        return player

    def player(self, user_id: str, currency: str) -> Player:
        return self.players[(user_id, currency)]

    def add(self, tx: Transaction) -> Transaction:
        key = (tx.type, tx.tx_id)
        if key in self._by_key:
            raise ValueError(f"{tx.type} {tx.tx_id} is already recorded")
        self._by_key[key] = tx
        self.transactions.append(tx)
        self._by_session.setdefault(tx.session_token, []).append(tx)
        return tx

    def find(self, tx_type: TxType, tx_id: str) -> Transaction | None:
        return self._by_key.get((tx_type, tx_id))

    def record_fault(self, kind: FaultKind, tx: Transaction, detail: str = "") -> None:
        self.faults.append(FaultRecord(kind, tx.tx_id, tx.type, tx.user_id, tx.round_id, detail))
        self.fault_counts[kind.value] += 1
        tx.faults.append(kind.value)

    # -- reads --------------------------------------------------------------------------

    def money(self, minor: int, currency: str) -> str:
        return format_minor(minor, currency, self.currencies)

    def session_transactions(self, token: str) -> list[Transaction]:
        return [tx for tx in self._by_session.get(token, ()) if tx.status is not TxStatus.PENDING]

    def round_status(self, round_id: str) -> str:
        found = self.rounds.get(round_id)
        return found.status.value if found else RoundStatus.FINISHED.value

    def transaction_row(self, tx: Transaction) -> dict[str, Any]:
        """The row as ``GET /sessions/{id}/transactions`` lists it (plus simulator extras)."""
        row: dict[str, Any] = {
            "transactionId": tx.tx_id,
            "roundId": tx.round_id,
            "transactionType": tx.type.value,
            "requestedAt": tx.requested_at.isoformat().replace("+00:00", "Z"),
            "transactionStatus": tx.status.value,
            "amount": Decimal(tx.amount_minor).scaleb(-self.currencies.exponent(tx.currency)),
            "roundStatus": self.round_status(tx.round_id),
            "userId": tx.user_id,
            "currency": tx.currency,
        }
        if tx.linked_tx_id is not None:
            row["linkedTransactionId"] = tx.linked_tx_id
        if tx.mode != "default":
            row["mode"] = tx.mode
        return row

    def export(self) -> dict[str, Any]:
        """Everything, as JSON-ready values (amounts as exact decimal strings)."""
        return {
            "players": [
                {
                    "user_id": p.user_id,
                    "currency": p.currency,
                    "provider_balance": self.money(p.provider_minor, p.currency),
                    "expected_operator_balance": self.money(p.expected_operator_minor, p.currency),
                    "operator_reported_balance": p.operator_reported,
                }
                for p in self.players.values()
            ],
            "sessions": [
                {
                    "session_token": s.token,
                    "user_id": s.user_id,
                    "game": s.game,
                    "currency": s.currency,
                    "created_at": s.created_at.isoformat(),
                    "expires_at": s.expires_at.isoformat(),
                    "opened": s.opened,
                }
                for s in self.sessions.values()
            ],
            "transactions": [
                {
                    **self.transaction_row(tx),
                    "amount": self.money(tx.amount_minor, tx.currency),
                    "sessionId": tx.session_token,
                    "delivered": tx.delivered,
                    "attempts": tx.attempts,
                    "operatorStatus": tx.operator_status,
                    "operatorProblem": problem_slug(tx.operator_status, tx.operator_body),
                    "faults": list(tx.faults),
                }
                for tx in self.transactions
            ],
            "rounds": [
                {
                    "round_id": r.round_id,
                    "number": r.number,
                    "seed_hash": r.seed_hash,
                    "seed": r.seed,
                    "crash_point": None if r.crash_point is None else str(r.crash_point),
                    "status": r.status.value,
                }
                for r in self.rounds.values()
            ],
            "free_bets": [
                {
                    "user_id": g.user_id,
                    "game_slug": g.game_slug,
                    "currency": g.currency,
                    "quantity": g.quantity,
                    "used": g.used,
                    "value": self.money(g.value_minor, g.currency),
                    "bonus_code": g.bonus_code,
                    "expires_at": g.expires_at,
                    "max_multiplier": None
                    if g.max_multiplier_x100 is None
                    else str(Decimal(g.max_multiplier_x100).scaleb(-2)),
                }
                for g in self.free_bets
            ],
            "fairness": dict(self.fairness),
            "faults": {
                "counts": dict(self.fault_counts),
                "records": [
                    {
                        "kind": f.kind.value,
                        "transactionId": f.tx_id,
                        "transactionType": f.tx_type.value,
                        "userId": f.user_id,
                        "roundId": f.round_id,
                        "detail": f.detail,
                    }
                    for f in self.faults
                ],
            },
        }
