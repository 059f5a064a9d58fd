"""The Postgres side of the operator API: reads of the ledger's tables, and the few rows it owns.

Balances, transactions and postings are only read here; the rows written (idempotency keys,
sessions, free-bet grants, finding statuses) move no money.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.operator_api.cursor import Position
from services.operator_api.ports import (
    Account,
    DayTotals,
    FindingFilter,
    HistoryFilter,
    NewGrant,
    NewSession,
    ProtectionRows,
    Row,
)
from shared.currencies import CurrencyTable
from shared.db import findings as finding_status
from shared.jsonwire import loads_exact
from shared.money import format_minor

PROTECTION_LIMITS = """
SELECT kind, period, amount, pending_amount, pending_at
FROM player_limits
WHERE user_id = $1
  AND currency = $2
ORDER BY kind, period
"""

PROTECTION_EXCLUSION = """
SELECT kind, since, until
FROM player_exclusions
WHERE user_id = $1
  AND currency = $2
"""

PROTECTION_TOTALS = """
SELECT period, period_start, deposits, wagers, losses
FROM limit_totals
WHERE user_id = $1
  AND currency = $2
"""

PROTECTION_HISTORY = """
SELECT operator_tx_id::text, change, idempotency_key, limit_kind, period, amount, exclusion,
       until, requested_at, requested_by, reason, effective_at, recorded_at
FROM protection_changes
WHERE user_id = $1
  AND currency = $2
ORDER BY requested_at, recorded_at
"""

DAILY_TOTALS = """
WITH moved AS (
    SELECT coalesce(s.game, 'unknown') AS game,
           t.currency,
           t.kind,
           p.amount,
           EXISTS (
               SELECT 1 FROM postings b
               WHERE b.operator_tx_id = t.operator_tx_id AND b.account_type = 'bonus'
           ) AS free
    FROM transactions t
    JOIN postings p
      ON p.operator_tx_id = t.operator_tx_id AND p.account_type = 'player'
    LEFT JOIN sessions s ON s.token = t.session_token
    WHERE t.created_at >= $1
      AND t.created_at < $2
      AND t.kind IN ('bet', 'win', 'rollback')
), money AS (
    SELECT game, currency,
           coalesce(sum(-amount) FILTER (WHERE kind = 'bet'), 0) AS stakes,
           coalesce(sum(amount) FILTER (WHERE kind = 'win' AND NOT free), 0) AS wins,
           coalesce(sum(amount) FILTER (WHERE kind = 'win' AND free), 0) AS free_bet_wins,
           coalesce(sum(amount) FILTER (WHERE kind = 'rollback'), 0) AS refunds
    FROM moved
    GROUP BY game, currency
), placed AS (
    SELECT coalesce(s.game, g.game, 'unknown') AS game,
           b.currency,
           coalesce(sum(b.amount) FILTER (WHERE b.mode = 'free'), 0) AS free_bet_stakes,
           count(*) AS bets,
           count(DISTINCT b.user_id) AS players
    FROM bets b
    LEFT JOIN transactions t ON t.operator_tx_id = b.operator_tx_id
    LEFT JOIN sessions s ON s.token = t.session_token
    LEFT JOIN free_bet_grants g ON g.grant_id = b.grant_id
    WHERE b.created_at >= $1
      AND b.created_at < $2
    GROUP BY 1, 2
)
SELECT coalesce(m.game, p.game) AS game,
       coalesce(m.currency, p.currency) AS currency,
       coalesce(m.stakes, 0)::bigint AS stakes,
       coalesce(m.wins, 0)::bigint AS wins,
       coalesce(m.refunds, 0)::bigint AS refunds,
       coalesce(p.free_bet_stakes, 0)::bigint AS free_bet_stakes,
       coalesce(m.free_bet_wins, 0)::bigint AS free_bet_wins,
       coalesce(p.bets, 0)::bigint AS bets,
       coalesce(p.players, 0)::bigint AS players
FROM money m
FULL JOIN placed p ON p.game = m.game AND p.currency = m.currency
"""

#: The balance after the account's last posting at or before a time: one index lookup
#: (``postings_player_balance``, migration 0035).
BALANCE_AT = """
SELECT balance_after
FROM postings
WHERE account_type = 'player'
  AND account_ref = $1
  AND currency = $2
  AND posted_at <= $3
ORDER BY posted_at DESC, posting_id DESC
LIMIT 1
"""

ACCOUNT_COLUMNS = """
SELECT user_id, currency, status, balance, created_at, updated_at
FROM accounts
"""

CLAIM_KEY = """
WITH inserted AS (
    INSERT INTO operator_idempotency_keys (idempotency_key, fingerprint)
    VALUES ($1, $2)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING fingerprint
)
SELECT fingerprint FROM inserted
UNION ALL
SELECT fingerprint FROM operator_idempotency_keys WHERE idempotency_key = $1
LIMIT 1
"""

TRANSACTIONS = """
SELECT
    t.operator_tx_id,
    t.kind,
    t.provider,
    t.provider_tx_id,
    t.round_id,
    t.session_token,
    t.created_at,
    coalesce(
        (
            SELECT sum(p.amount)
            FROM postings p
            WHERE p.operator_tx_id = t.operator_tx_id
              AND p.account_type = 'player'
              AND p.account_ref = t.user_id
              AND p.currency = t.currency
        ),
        0
    )::bigint AS amount
FROM transactions t
WHERE t.user_id = $1
  AND t.currency = $2
"""
TRANSACTIONS_AFTER = "  AND (t.created_at, t.operator_tx_id) < ($P::timestamptz, $Q::uuid)\n"
TRANSACTIONS_ORDER = "ORDER BY t.created_at DESC, t.operator_tx_id DESC\nLIMIT $L"

POSTINGS = """
SELECT
    p.operator_tx_id,
    p.leg,
    p.account_type,
    p.amount,
    t.kind,
    t.provider_tx_id,
    t.round_id,
    t.session_token,
    t.created_at
FROM postings p
JOIN transactions t ON t.operator_tx_id = p.operator_tx_id
WHERE p.account_type = 'player'
  AND p.account_ref = $1
  AND p.currency = $2
  AND t.user_id = $1
  AND t.currency = $2
"""
POSTINGS_AFTER = (
    "  AND (t.created_at, p.operator_tx_id, p.leg) < ($P::timestamptz, $Q::uuid, $R::smallint)\n"
)
POSTINGS_ORDER = "ORDER BY t.created_at DESC, p.operator_tx_id DESC, p.leg DESC\nLIMIT $L"

INSERT_SESSION = """
INSERT INTO sessions (token, user_id, currency, game, expires_at, game_url)
VALUES ($1, $2, $3, $4, $5, $6)
"""

INSERT_GRANT = """
INSERT INTO free_bet_grants
    (user_id, currency, game, bonus_code, quantity, remaining, value_minor, expires_at,
     max_multiplier, idempotency_key)
VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8, $9)
ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING grant_id, user_id, currency, game, bonus_code, quantity, remaining, value_minor,
          expires_at, max_multiplier, created_at
"""

KEY_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('operator-key:' || $1, 0))"

GRANT_BY_KEY = """
SELECT grant_id, user_id, currency, game, bonus_code, quantity, remaining, value_minor,
       expires_at, max_multiplier, created_at
FROM free_bet_grants
WHERE idempotency_key = $1
"""

GRANTS = """
SELECT grant_id, user_id, currency, game, bonus_code, quantity, remaining, value_minor,
       expires_at, max_multiplier, created_at
FROM free_bet_grants
WHERE user_id = $1
  AND currency = $2
"""
GRANTS_AFTER = "  AND (created_at, grant_id) < ($P::timestamptz, $Q::bigint)\n"
GRANTS_ORDER = "ORDER BY created_at DESC, grant_id DESC\nLIMIT $L"


FINDING_COLUMNS = """
SELECT finding_id, finding_class, status, version, provider, session_id, kind, provider_tx_id,
       round_id, user_id, currency, detail, provider_row::text AS provider_row,
       ledger_row::text AS ledger_row, first_seen_at, last_seen_at, times_seen,
       status_changed_by, status_changed_at, status_reason
FROM reconciliation_findings
"""
FINDINGS_AFTER = "  AND finding_id < $P\n"
FINDINGS_ORDER = "ORDER BY finding_id DESC\nLIMIT $L"

FINDING_CHANGES = """
SELECT version, from_status, to_status, changed_by, changed_at, reason
FROM reconciliation_finding_changes
WHERE finding_id = $1
ORDER BY version
"""


class _Query:
    """A statement built from constant fragments with numbered parameters ($P, $Q... resolved)."""

    def __init__(self, head: str, args: list[Any]) -> None:
        self.text = head
        self.args = args

    def add(self, fragment: str, *values: Any) -> None:
        for placeholder, value in zip(("$P", "$Q", "$R"), values, strict=False):
            self.args.append(value)
            fragment = fragment.replace(placeholder, f"${len(self.args)}")
        self.text += fragment

    def where(self, conditions: dict[str, Any]) -> None:
        """``AND <column and operator> <value>`` for each condition whose value is set."""
        for condition, value in conditions.items():
            if value is not None:
                self.add(f"  AND {condition} $P\n", value)

    def finish(self, order: str, limit: int) -> tuple[str, list[Any]]:
        self.args.append(limit)
        return self.text + order.replace("$L", f"${len(self.args)}"), self.args


def _filtered(head: str, user_id: str, currency: str, where: HistoryFilter) -> _Query:
    query = _Query(head, [user_id, currency])
    query.where(
        {
            "t.kind =": where.kind,
            "t.round_id =": where.round_id,
            "t.session_token =": where.session_token,
            "t.created_at >=": where.since,
            "t.created_at <": where.until,
        }
    )
    return query


def _account(record: asyncpg.Record) -> Account:
    return Account(
        user_id=record["user_id"],
        currency=record["currency"],
        balance_minor=record["balance"],
        blocked=record["status"] == "blocked",
        created_at=record["created_at"],
        updated_at=record["updated_at"],
    )


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


class PostgresStore:
    def __init__(self, pool: asyncpg.Pool, currencies: CurrencyTable) -> None:
        self.pool = pool
        self.currencies = currencies

    def _money(self, minor: int, currency: str) -> str:
        return format_minor(minor, currency, self.currencies)

    async def ping(self) -> None:
        await self.pool.fetchval("SELECT 1")

    async def accounts_of(self, user_id: str) -> Sequence[Account]:
        rows = await self.pool.fetch(
            ACCOUNT_COLUMNS + "WHERE user_id = $1\nORDER BY currency", user_id
        )
        return [_account(row) for row in rows]

    async def account(self, user_id: str, currency: str) -> Account | None:
        row = await self.pool.fetchrow(
            ACCOUNT_COLUMNS + "WHERE user_id = $1\n  AND currency = $2", user_id, currency
        )
        return None if row is None else _account(row)

    async def transactions(
        self, user_id: str, currency: str, where: HistoryFilter, after: Position | None, limit: int
    ) -> Sequence[Row]:
        query = _filtered(TRANSACTIONS, user_id, currency, where)
        if after is not None:
            query.add(TRANSACTIONS_AFTER, after.created_at, str(after.key[0]))
        text, args = query.finish(TRANSACTIONS_ORDER, limit)
        rows = await self.pool.fetch(text, *args)
        return [
            Row(
                Position(row["created_at"], (str(row["operator_tx_id"]),)),
                {
                    "operator_tx_id": str(row["operator_tx_id"]),
                    "kind": row["kind"],
                    "amount": self._money(row["amount"], currency),
                    "currency": currency,
                    "provider": row["provider"],
                    "provider_tx_id": row["provider_tx_id"],
                    "round_id": row["round_id"],
                    "session_token": row["session_token"],
                    "created_at": row["created_at"].isoformat(),
                },
            )
            for row in rows
        ]

    async def postings(
        self, user_id: str, currency: str, where: HistoryFilter, after: Position | None, limit: int
    ) -> Sequence[Row]:
        query = _filtered(POSTINGS, user_id, currency, where)
        if after is not None:
            query.add(POSTINGS_AFTER, after.created_at, str(after.key[0]), int(after.key[-1]))
        text, args = query.finish(POSTINGS_ORDER, limit)
        rows = await self.pool.fetch(text, *args)
        return [
            Row(
                Position(row["created_at"], (str(row["operator_tx_id"]), row["leg"])),
                {
                    "operator_tx_id": str(row["operator_tx_id"]),
                    "leg": row["leg"],
                    "account_type": row["account_type"],
                    "amount": self._money(row["amount"], currency),
                    "currency": currency,
                    "kind": row["kind"],
                    "provider_tx_id": row["provider_tx_id"],
                    "round_id": row["round_id"],
                    "session_token": row["session_token"],
                    "created_at": row["created_at"].isoformat(),
                },
            )
            for row in rows
        ]

    async def claim_idempotency_key(self, key: str, fingerprint: str) -> str:
        for _ in range(3):
            on_record: str | None = await self.pool.fetchval(CLAIM_KEY, key, fingerprint)
            if on_record is not None:
                return on_record
        raise RuntimeError(f"idempotency key {key!r} could be neither claimed nor read")

    async def add_session(self, session: NewSession) -> None:
        await self.pool.execute(
            INSERT_SESSION,
            session.token,
            session.user_id,
            session.currency,
            session.game,
            session.expires_at,
            session.game_url,
        )

    def _grant(self, row: asyncpg.Record) -> dict[str, Any]:
        multiplier = row["max_multiplier"]
        return {
            "grant_id": row["grant_id"],
            "user_id": row["user_id"],
            "currency": row["currency"],
            "game": row["game"],
            "bonus_code": row["bonus_code"],
            "quantity": row["quantity"],
            "remaining": row["remaining"],
            "value": self._money(row["value_minor"], row["currency"]),
            "expires_at": _iso(row["expires_at"]),
            "max_multiplier": None if multiplier is None else str(multiplier),
            "created_at": row["created_at"].isoformat(),
        }

    async def add_grant(self, grant: NewGrant) -> dict[str, Any]:
        return await self._add_grant(self.pool, grant)

    async def _add_grant(
        self, db: asyncpg.Pool | asyncpg.Connection, grant: NewGrant
    ) -> dict[str, Any]:
        row = await db.fetchrow(
            INSERT_GRANT,
            grant.user_id,
            grant.currency,
            grant.game,
            grant.bonus_code,
            grant.quantity,
            grant.value_minor,
            grant.expires_at,
            grant.max_multiplier,
            grant.idempotency_key,
        )
        if row is None and grant.idempotency_key is not None:
            recorded = await self._grant_by_key(db, grant.idempotency_key)
            if recorded is not None:
                return recorded
        if row is None:
            raise RuntimeError("the grant was neither recorded nor found under its key")
        return self._grant(row)

    @contextlib.asynccontextmanager
    async def key_lock(self, idempotency_key: str) -> AsyncIterator[_KeyedGrants]:
        """Hold a lock on ``idempotency_key``, across every API instance, for the block.

        A transaction-scoped advisory lock; the block reads and records grants through what it
        is given, on the lock's own connection (a second connection per waiting request could
        exhaust the pool: every connection held by a lock, every holder waiting for another).
        The recorded grant commits, and the lock is released, when the block ends.
        """
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(KEY_LOCK, idempotency_key)
            yield _KeyedGrants(self, conn)

    async def _grant_by_key(
        self, db: asyncpg.Pool | asyncpg.Connection, idempotency_key: str
    ) -> dict[str, Any] | None:
        row = await db.fetchrow(GRANT_BY_KEY, idempotency_key)
        return None if row is None else self._grant(row)

    async def grants_of(
        self, user_id: str, currency: str, after: Position | None, limit: int
    ) -> Sequence[Row]:
        query = _Query(GRANTS, [user_id, currency])
        if after is not None:
            query.add(GRANTS_AFTER, after.created_at, int(after.key[0]))
        text, args = query.finish(GRANTS_ORDER, limit)
        rows = await self.pool.fetch(text, *args)
        return [
            Row(Position(row["created_at"], (row["grant_id"],)), self._grant(row)) for row in rows
        ]

    async def findings(
        self, where: FindingFilter, after: Position | None, limit: int
    ) -> Sequence[Row]:
        query = _Query(FINDING_COLUMNS + "WHERE true\n", [])
        query.where(
            {
                "status =": where.status,
                "finding_class =": where.finding_class,
                "session_id =": where.session_id,
                "user_id =": where.user_id,
            }
        )
        if after is not None:
            query.add(FINDINGS_AFTER, int(after.key[0]))
        text, args = query.finish(FINDINGS_ORDER, limit)
        rows = await self.pool.fetch(text, *args)
        return [
            Row(Position(row["first_seen_at"], (row["finding_id"],)), _finding(row)) for row in rows
        ]

    async def finding(self, finding_id: int) -> dict[str, Any] | None:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(FINDING_COLUMNS + "WHERE finding_id = $1", finding_id)
            if row is None:
                return None
            changes = await conn.fetch(FINDING_CHANGES, finding_id)
        found = _finding(row)
        found["changes"] = [
            {
                "version": change["version"],
                "from_status": change["from_status"],
                "to_status": change["to_status"],
                "changed_by": change["changed_by"],
                "changed_at": change["changed_at"].isoformat(),
                "reason": change["reason"],
            }
            for change in changes
        ]
        return found

    async def change_finding(
        self, finding_id: int, status: str, changed_by: str, note: str | None
    ) -> dict[str, Any] | None:
        async with self.pool.acquire() as conn, conn.transaction():
            await finding_status.set_status(conn, [finding_id], status, changed_by, note)
        return await self.finding(finding_id)

    async def protection(self, user_id: str, currency: str) -> ProtectionRows:
        async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            limits = await conn.fetch(PROTECTION_LIMITS, user_id, currency)
            exclusion = await conn.fetchrow(PROTECTION_EXCLUSION, user_id, currency)
            totals = await conn.fetch(PROTECTION_TOTALS, user_id, currency)
        return ProtectionRows(
            limits=[dict(row) for row in limits],
            exclusion=None if exclusion is None else dict(exclusion),
            totals=[dict(row) for row in totals],
        )

    async def protection_history(self, user_id: str, currency: str) -> Sequence[dict[str, Any]]:
        rows = await self.pool.fetch(PROTECTION_HISTORY, user_id, currency)
        return [dict(row) for row in rows]

    async def daily_totals(self, start: datetime, end: datetime) -> Sequence[DayTotals]:
        rows = await self.pool.fetch(DAILY_TOTALS, start, end)
        return [DayTotals(**dict(row)) for row in rows]

    async def balance_at(self, user_id: str, currency: str, at: datetime) -> int:
        found = await self.pool.fetchval(BALANCE_AT, user_id, currency, at)
        return 0 if found is None else int(found)


def _json_text(text: str | None) -> Any:
    return None if text is None else loads_exact(text)


def _finding(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "finding_id": row["finding_id"],
        "class": row["finding_class"],
        "status": row["status"],
        "version": row["version"],
        "provider": row["provider"],
        "session_id": row["session_id"],
        "kind": row["kind"],
        "provider_tx_id": row["provider_tx_id"],
        "round_id": row["round_id"],
        "user_id": row["user_id"],
        "currency": row["currency"],
        "detail": row["detail"],
        "provider_row": _json_text(row["provider_row"]),
        "ledger_row": _json_text(row["ledger_row"]),
        "first_seen_at": row["first_seen_at"].isoformat(),
        "last_seen_at": row["last_seen_at"].isoformat(),
        "times_seen": row["times_seen"],
        "status_changed_by": row["status_changed_by"],
        "status_changed_at": _iso(row["status_changed_at"]),
        "status_reason": row["status_reason"],
    }


class _KeyedGrants:
    """The grant reads and writes of a request holding a key's lock, on the lock's connection."""

    def __init__(self, store: PostgresStore, conn: asyncpg.Connection) -> None:
        self._store = store
        self._conn = conn

    async def grant_by_key(self, idempotency_key: str) -> dict[str, Any] | None:
        return await self._store._grant_by_key(self._conn, idempotency_key)

    async def add_grant(self, grant: NewGrant) -> dict[str, Any]:
        return await self._store._add_grant(self._conn, grant)
