"""Small in-memory stand-ins for the operator API's own seams (unit tests only)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from services.operator_api.cursor import Position
from services.operator_api.ports import (
    AccessRequest,
    Account,
    FindingFilter,
    FreeBetOffer,
    HistoryFilter,
    LedgerUnavailable,
    NewGrant,
    NewSession,
    ProtectionRows,
    ProviderFailed,
    Row,
)
from shared.contracts.commands import LedgerReply, OperatorCommand

T0 = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


@dataclass
class FakeStore:
    accounts: dict[tuple[str, str], Account] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    sessions: list[NewSession] = field(default_factory=list)
    grants: list[NewGrant] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    key_locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    protections: dict[tuple[str, str], ProtectionRows] = field(default_factory=dict)

    def add_account(
        self, user_id: str, currency: str, balance: int = 0, blocked: bool = False
    ) -> None:
        self.accounts[(user_id, currency)] = Account(user_id, currency, balance, blocked, T0, T0)

    async def ping(self) -> None:
        return None

    async def accounts_of(self, user_id: str) -> Sequence[Account]:
        return [a for (u, _), a in sorted(self.accounts.items()) if u == user_id]

    async def account(self, user_id: str, currency: str) -> Account | None:
        return self.accounts.get((user_id, currency))

    def _after(self, after: Position | None, limit: int) -> Sequence[Row]:
        ordered = sorted(
            self.rows, key=lambda r: (r.position.created_at, r.position.key), reverse=True
        )
        if after is not None:
            ordered = [
                r
                for r in ordered
                if (r.position.created_at, r.position.key) < (after.created_at, after.key)
            ]
        return ordered[:limit]

    async def transactions(
        self, user_id: str, currency: str, where: HistoryFilter, after: Position | None, limit: int
    ) -> Sequence[Row]:
        return self._after(after, limit)

    async def postings(
        self, user_id: str, currency: str, where: HistoryFilter, after: Position | None, limit: int
    ) -> Sequence[Row]:
        return self._after(after, limit)

    async def claim_idempotency_key(self, key: str, fingerprint: str) -> str:
        return self.keys.setdefault(key, fingerprint)

    async def add_session(self, session: NewSession) -> None:
        self.sessions.append(session)

    async def add_grant(self, grant: NewGrant) -> dict[str, Any]:
        self.grants.append(grant)
        return {"grant_id": len(self.grants), "quantity": grant.quantity}

    @contextlib.asynccontextmanager
    async def key_lock(self, idempotency_key: str) -> AsyncIterator[FakeStore]:
        lock = self.key_locks.setdefault(idempotency_key, asyncio.Lock())
        async with lock:
            yield self

    async def grant_by_key(self, idempotency_key: str) -> dict[str, Any] | None:
        for number, grant in enumerate(self.grants, start=1):
            if grant.idempotency_key == idempotency_key:
                return {"grant_id": number, "quantity": grant.quantity}
        return None

    async def grants_of(
        self, user_id: str, currency: str, after: Position | None, limit: int
    ) -> Sequence[Row]:
        return self._after(after, limit)

    async def findings(
        self, where: FindingFilter, after: Position | None, limit: int
    ) -> Sequence[Row]:
        return self._after(after, limit)

    async def finding(self, finding_id: int) -> dict[str, Any] | None:
        return None

    async def change_finding(
        self, finding_id: int, status: str, changed_by: str, note: str | None
    ) -> dict[str, Any] | None:
        return None

    async def protection(self, user_id: str, currency: str) -> ProtectionRows:
        return self.protections.get((user_id, currency), ProtectionRows())

    async def protection_history(self, user_id: str, currency: str) -> Sequence[dict[str, Any]]:
        return []


@dataclass
class FakeLedger:
    reply: LedgerReply = field(default_factory=lambda: LedgerReply(status=200, body='{"ok":true}'))
    unavailable: bool = False
    sent: list[OperatorCommand] = field(default_factory=list)

    async def send(self, command: OperatorCommand) -> LedgerReply:
        self.sent.append(command)
        if self.unavailable:
            raise LedgerUnavailable("no reply within 5.0 s")
        return self.reply


@dataclass
class FakeProvider:
    game_url: str = "https://games.example/aviador/session/tok123"
    failure: ProviderFailed | None = None
    access_requests: list[AccessRequest] = field(default_factory=list)
    offers: list[FreeBetOffer] = field(default_factory=list)

    async def request_access(self, request: AccessRequest) -> str:
        self.access_requests.append(request)
        if self.failure is not None:
            raise self.failure
        return self.game_url

    async def redeem_free_bet(self, offer: FreeBetOffer) -> None:
        self.offers.append(offer)
        if self.failure is not None:
            raise self.failure
