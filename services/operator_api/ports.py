"""The seams of the operator API: what it needs from the ledger, the provider and the database.

The composition root plugs in the real Kafka request-reply client, the Hypetech REST client and the
Postgres store; unit tests plug in small fakes of these same protocols.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from services.operator_api.cursor import Position
from shared.contracts.commands import LedgerReply, OperatorCommand


class LedgerUnavailable(Exception):
    """The ledger did not answer in time (or could not be reached); a retry is safe."""


class ProviderFailed(Exception):
    """The game provider refused or could not be reached; ``detail`` is the provider's own words."""

    def __init__(self, detail: str, *, provider_status: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.provider_status = provider_status


class UnknownGame(ProviderFailed):
    """The provider refused the game, and its game list does not hold it."""

    def __init__(self, game: str, detail: str) -> None:
        super().__init__(detail, provider_status=404)
        self.game = game


class Ledger(Protocol):
    async def send(self, command: OperatorCommand) -> LedgerReply:
        """Publish ``command`` keyed by its player and wait for the ledger's reply."""
        ...


@dataclass(frozen=True, slots=True)
class AccessRequest:
    game: str
    user_id: str
    username: str
    currency: str
    balance: Decimal
    language: str
    avatar_url: str | None
    expires_in_minutes: int
    extra_data: str | None


@dataclass(frozen=True, slots=True)
class FreeBetOffer:
    game: str
    user_id: str
    quantity: int
    value: Decimal
    currency: str
    expires_at: datetime
    bonus_code: str | None
    max_multiplier: Decimal | None


class GameProvider(Protocol):
    async def request_access(self, request: AccessRequest) -> str:
        """Open a game session; the ``game_url`` to send the player to."""
        ...

    async def redeem_free_bet(self, offer: FreeBetOffer) -> None: ...


@dataclass(frozen=True, slots=True)
class Account:
    user_id: str
    currency: str
    balance_minor: int
    blocked: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class DayTotals:
    """One (game, currency) of a day, amounts in minor units."""

    game: str
    currency: str
    stakes: int
    wins: int
    refunds: int
    free_bet_stakes: int
    free_bet_wins: int
    bets: int
    players: int

    @property
    def ggr(self) -> int:
        return self.stakes - self.refunds - self.wins


@dataclass(frozen=True, slots=True)
class HistoryFilter:
    """Filters of a history page; ``None`` means no filter."""

    kind: str | None = None
    round_id: str | None = None
    session_token: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "round_id": self.round_id,
            "session_token": self.session_token,
            "since": None if self.since is None else self.since.isoformat(),
            "until": None if self.until is None else self.until.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class FindingFilter:
    status: str | None = None
    finding_class: str | None = None
    session_id: str | None = None
    user_id: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "status": self.status,
            "class": self.finding_class,
            "session_id": self.session_id,
            "user_id": self.user_id,
        }


@dataclass(frozen=True, slots=True)
class Row:
    """One history row: its sort key and its JSON-ready fields."""

    position: Position
    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class NewSession:
    token: str
    user_id: str
    currency: str
    game: str
    game_url: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class NewGrant:
    user_id: str
    currency: str
    game: str
    quantity: int
    value_minor: int
    expires_at: datetime
    bonus_code: str | None
    max_multiplier: Decimal | None
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class ProtectionRows:
    """An account's protection rows as stored (amounts in minor units)."""

    limits: Sequence[dict[str, Any]] = ()
    exclusion: dict[str, Any] | None = None
    totals: Sequence[dict[str, Any]] = ()


class KeyedGrants(Protocol):
    """Grant reads and writes made while holding a key's lock (``Store.key_lock``)."""

    async def grant_by_key(self, idempotency_key: str) -> dict[str, Any] | None: ...

    async def add_grant(self, grant: NewGrant) -> dict[str, Any]: ...


class Store(Protocol):
    """Reads of the ledger's tables, plus the few non-money rows the API itself writes."""

    async def ping(self) -> None: ...

    async def accounts_of(self, user_id: str) -> Sequence[Account]: ...

    async def account(self, user_id: str, currency: str) -> Account | None: ...

    async def transactions(
        self, user_id: str, currency: str, where: HistoryFilter, after: Position | None, limit: int
    ) -> Sequence[Row]: ...

    async def postings(
        self, user_id: str, currency: str, where: HistoryFilter, after: Position | None, limit: int
    ) -> Sequence[Row]: ...

    async def claim_idempotency_key(self, key: str, fingerprint: str) -> str:
        """Record ``fingerprint`` for a new ``key``; return the fingerprint on record."""
        ...

    async def add_session(self, session: NewSession) -> None: ...

    async def add_grant(self, grant: NewGrant) -> dict[str, Any]:
        """Record the grant; with a key already recorded, the grant recorded under it."""
        ...

    def key_lock(self, idempotency_key: str) -> AbstractAsyncContextManager[KeyedGrants]:
        """Serialise the requests that carry ``idempotency_key`` (every instance) in the block;
        inside it, grants are read and recorded through what it yields."""
        ...

    async def grants_of(
        self, user_id: str, currency: str, after: Position | None, limit: int
    ) -> Sequence[Row]: ...

    async def findings(
        self, where: FindingFilter, after: Position | None, limit: int
    ) -> Sequence[Row]: ...

    async def finding(self, finding_id: int) -> dict[str, Any] | None:
        """One finding with its status changes, oldest first."""
        ...

    async def change_finding(
        self, finding_id: int, status: str, changed_by: str, note: str | None
    ) -> dict[str, Any] | None:
        """Set the status (recording who and why); ``None`` when there is no such finding."""
        ...

    async def protection(self, user_id: str, currency: str) -> ProtectionRows:
        """The account's stored limits, exclusion and period totals, as the ledger keeps them."""
        ...

    async def protection_history(self, user_id: str, currency: str) -> Sequence[dict[str, Any]]:
        """Every change of the account's protection, oldest first."""
        ...

    async def daily_totals(self, start: datetime, end: datetime) -> Sequence[DayTotals]:
        """Per game and currency, the money moved and the bets placed in ``[start, end)``."""
        ...

    async def balance_at(self, user_id: str, currency: str, at: datetime) -> int:
        """The account's balance just after the last posting at or before ``at`` (0 before its
        first posting)."""
        ...
