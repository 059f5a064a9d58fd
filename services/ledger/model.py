"""Plain values the decision core reads and returns. No I/O, no clocks, no ids minted at random."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Final

from services.ledger.protection import Exclusion, Limit, Totals
from shared.contracts.bets import BetState as BetState  # noqa: PLC0414 - store.py reads it here
from shared.contracts.commands import OperatorCommand, WebhookEnvelope, WinWithoutRound
from shared.contracts.protection import ExclusionKind, LimitKind, LimitPeriod
from shared.currencies import DEFAULT_CURRENCIES, CurrencyTable

#: Namespaces for the deterministic ids: a key's first decision gets an operator_tx_id from the
#: key and the command's own time (every retry is answered from that stored decision), and the
#: same decision the same event_id, however often it is redelivered or replayed.
OPERATOR_TX_NAMESPACE = uuid.UUID("6b1f3c52-3b8e-4f1e-9a57-0d6f1c2a9e10")
EVENT_NAMESPACE = uuid.UUID("b2d4e0a1-8c67-4d0c-8f3e-51a7c9d2e6f4")

_NAMESPACE_BYTES = {
    OPERATOR_TX_NAMESPACE: OPERATOR_TX_NAMESPACE.bytes,
    EVENT_NAMESPACE: EVENT_NAMESPACE.bytes,
}

#: The most a player's balance may hold, in minor units, after a deposit or a win: new money
#: beyond it is refused (``balance-limit-exceeded``). One amount is at most 1e18 minor units
#: (``MAX_MAJOR`` at the largest exponent), so a balance at the bound plus any one refund still
#: fits the BIGINT column.
MAX_BALANCE_MINOR = 10**18
#: The BIGINT column's own ceiling: a rollback refunds up to it (it returns money already the
#: player's), and only a refund past it is refused.
BALANCE_CEILING = 2**63 - 1

Command = WebhookEnvelope | OperatorCommand
"""What the ledger decides: a normalised webhook or one of the operator's own commands."""

OPERATOR_PROVIDER = "operator"
"""The provider column of operator commands' keys: ("operator", kind, idempotency_key)."""


class AccountStatus(StrEnum):
    ACTIVE = "active"
    BLOCKED = "blocked"


class Flag(StrEnum):
    """Stored on a decision (and carried by its event) for the reconciler to raise as a finding."""

    WIN_ON_ROLLED_BACK_BET = "win_on_rolled_back_bet"
    ROLLBACK_OF_SETTLED_BET = "rollback_of_settled_bet"
    ROLLBACK_AMOUNT_DIFFERS = "rollback_amount_differs"
    WIN_WITHOUT_ROUND = "win_without_round"
    AMOUNT_NOISE_ROUNDED = "amount_noise_rounded"


class Outcome(StrEnum):
    APPLIED = "applied"
    """First decision for its key, accepted (status 200). Stored."""
    REJECTED = "rejected"
    """First decision for its key, refused with a problem. Stored."""
    REPLAYED = "replayed"
    """Same key, same payload: the stored response again, no money."""
    MISMATCH = "mismatch"
    """Same key, different payload: 409, nothing stored, the original kept."""
    READ = "read"
    """A balance read: answered, never stored."""
    INVALID = "invalid"
    """A command the ledger cannot key (no provider_tx_id): answered, never stored."""
    EXPIRED = "expired"
    """A key whose decision retention deleted while its transaction remains: 409, never stored,
    the money not moved again."""


class AccountType(StrEnum):
    PLAYER = "player"
    PROVIDER_CLEARING = "provider_clearing"
    BONUS = "bonus"
    OPERATOR_CASH = "operator_cash"


PLAYER: Final = AccountType.PLAYER
"""``AccountType.PLAYER`` for the per-posting checks of the hot path: on Python 3.11 reading an
enum member off its class goes through a descriptor (about 0.1 us), a module global does not."""


@dataclass(frozen=True, slots=True)
class Key:
    provider: str
    kind: str
    provider_tx_id: str

    def operator_tx_id(self, at: datetime) -> str:
        """The id of this key's decision made at ``at`` (the command's own time): time-ordered,
        so the indexes keyed by it take their inserts at their right edge (``uuid7_text``).
        A redelivery of the same record gets the same id; a retry with another time is answered
        from the stored decision, so it gets the stored id, never this one."""
        name = f"{self.provider}\x1f{self.kind}\x1f{self.provider_tx_id}"
        return uuid7_text(at, OPERATOR_TX_NAMESPACE, name)


def as_utc(moment: datetime) -> datetime:
    """A naive time read as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def command_time(command: Command) -> datetime:
    """The command's own time: a webhook's ``received_at``, an operator command's
    ``requested_at`` (the ledger has no clock of its own)."""
    at = command.received_at if isinstance(command, WebhookEnvelope) else command.requested_at
    return as_utc(at)


def event_id_for(operator_tx_id: str) -> str:
    return uuid5_text(EVENT_NAMESPACE, operator_tx_id)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
#: A hex digit with its two top bits replaced by the RFC 9562 variant ``10``.
_VARIANT = {f"{n:x}": f"{0x8 | (n & 0x3):x}" for n in range(16)}


def _name_hash(namespace: uuid.UUID, name: str) -> bytes:
    """The SHA-1 of ``namespace`` + ``name``, as ``uuid5`` hashes them (both id layouts use it)."""
    prefix = _NAMESPACE_BYTES.get(namespace) or namespace.bytes
    return hashlib.sha1(prefix + name.encode(), usedforsecurity=False).digest()


def uuid7_text(at: datetime, namespace: uuid.UUID, name: str) -> str:
    """A UUIDv7-layout id (RFC 9562) that is a function of ``at`` and ``name`` alone: 48 bits of
    Unix milliseconds of ``at`` (a naive time read as UTC; before 1970 read as 1970), version 7,
    the variant, and 74 bits of the SHA-1 of ``namespace`` + ``name`` (what ``uuid5`` hashes:
    its first 80 bits less the six the version and variant take). Text, no ``UUID`` objects (hot
    path). Ids of later times sort after earlier ones, so a B-tree keyed by them grows at one
    edge instead of at a random leaf."""
    millis = max((as_utc(at) - _EPOCH) // _MILLISECOND, 0)  # 48 bits hold every year to 9999
    digest = _name_hash(namespace, name).hex()
    return (
        f"{millis >> 16:08x}-{millis & 0xFFFF:04x}-7{digest[1:4]}-"
        f"{_VARIANT[digest[4]]}{digest[5:8]}-{digest[8:20]}"
    )


def uuid5_text(namespace: uuid.UUID, name: str) -> str:
    """``str(uuid.uuid5(namespace, name))`` without building ``UUID`` objects (hot path)."""
    digest = bytearray(_name_hash(namespace, name)[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


@dataclass(frozen=True, slots=True)
class Account:
    user_id: str
    currency: str
    status: AccountStatus
    balance: int


@dataclass(frozen=True, slots=True)
class Bet:
    provider: str
    bet_tx_id: str
    user_id: str
    currency: str
    round_id: str | None
    amount: int
    mode: str
    bonus_code: str | None
    grant_id: int | None
    state: BetState
    operator_tx_id: str


@dataclass(frozen=True, slots=True)
class StoredDecision:
    fingerprint: str
    status: int
    body: str
    operator_tx_id: str


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    user_id: str
    currency: str
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class Grant:
    grant_id: int
    user_id: str
    currency: str
    bonus_code: str | None
    remaining: int
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class Tombstone:
    provider: str
    bet_tx_id: str
    rollback_tx_id: str
    user_id: str
    currency: str


@dataclass(frozen=True, slots=True)
class RoundLock:
    provider: str
    user_id: str
    round_id: str
    operator_tx_id: str


@dataclass(frozen=True, slots=True)
class Posting:
    account_type: AccountType
    account_ref: str
    currency: str
    amount: int


@dataclass(frozen=True, slots=True)
class Movement:
    """One applied transaction: its postings sum to zero per currency."""

    kind: str
    provider: str
    provider_tx_id: str
    user_id: str
    currency: str
    round_id: str | None
    postings: tuple[Posting, ...]
    session_token: str | None = None
    """The Hypetech session of a webhook's movement (history filters by it); None for operators."""


@dataclass(frozen=True, slots=True)
class BetChange:
    """A bet that already exists moves to ``state``."""

    provider: str
    bet_tx_id: str
    state: BetState


@dataclass(frozen=True, slots=True)
class GrantChange:
    """Free-bet units taken (-1) from a grant or given back (+1) to it."""

    grant_id: int
    delta: int


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    event_id: str
    key: str
    payload: str


@dataclass(frozen=True, slots=True)
class ProtectionRecord:
    """One change of a player's protection, kept for good (``protection_changes``)."""

    time_zone: str
    """The zone the ledger counted calendar periods in (the audit reads them the same way)."""
    change: str
    """set_limit, remove_limit, exclude or time_out."""
    idempotency_key: str
    requested_at: datetime
    requested_by: str
    reason: str
    effective_at: datetime
    limit_kind: LimitKind | None = None
    period: LimitPeriod | None = None
    amount: int | None = None
    """The requested limit; None for a removal or an exclusion."""
    exclusion: ExclusionKind | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    """The configurable rows of the decision table (defaults are what ships)."""

    session_check: bool = True
    insufficient_funds_status: int = 403
    rollback_unknown_status: int = 200
    win_without_round: WinWithoutRound = "reject"
    currencies: CurrencyTable = DEFAULT_CURRENCIES
    time_zone: str = "UTC"
    """The operator's time zone: where limits' calendar days, weeks and months begin."""
    limit_cooling_off: timedelta = timedelta(hours=24)
    """How long a raised or removed limit waits before it takes effect."""


@dataclass(frozen=True, slots=True)
class OpenAccount:
    """A player's account in a currency comes to exist (``create_account``)."""

    account: Account


@dataclass(frozen=True, slots=True)
class SetAccountStatus:
    """The decision's account is blocked or unblocked."""

    status: AccountStatus


@dataclass(frozen=True, slots=True)
class PlaceBet:
    """A bet comes to exist, open."""

    bet: Bet


Effect = (
    Totals
    | OutboxEvent
    | Movement
    | PlaceBet
    | BetChange
    | GrantChange
    | OpenAccount
    | SetAccountStatus
    | Tombstone
    | RoundLock
    | Limit
    | Exclusion
    | ProtectionRecord
)
"""What a stored decision changes, each a value of its own: ``BatchState.apply`` folds it into
the batch's state, ``store`` turns it into rows, each with one ``match`` over this union (the
most frequent first). The player's balance moves only through a ``Movement``'s player postings;
``Limit``, ``Exclusion`` and ``Totals`` are the decision's account's rows to store as they are
now; the events keep their order (the outbox publishes in it)."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to one command and what it changes. The shell only translates it to SQL."""

    outcome: Outcome
    status: int
    body: str
    kind: str
    user_id: str
    currency: str
    key: Key | None = None
    fingerprint: str = ""
    operator_tx_id: str | None = None
    flags: tuple[Flag, ...] = ()
    occurred_at: datetime | None = None
    """The command's own time (a webhook's received_at, an operator's requested_at)."""
    refused_by: str | None = None
    """A refusal by player protection: the limit (``loss/day``) or the exclusion kind."""
    effects: tuple[Effect, ...] = ()
    """Empty unless the decision is stored (``APPLIED`` or ``REJECTED``)."""

    @property
    def stored(self) -> bool:
        return self.outcome in (Outcome.APPLIED, Outcome.REJECTED)

    @property
    def content_type(self) -> str:
        return "application/json" if self.status == 200 else "application/problem+json"
