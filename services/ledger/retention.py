"""Retention of decisions, tombstones and published outbox rows: explicit, never silent.

Decisions (the idempotency keys with their stored responses, accepted and refused) and rollback
tombstones are records of money: kept ``RECORDS_RETENTION_DAYS`` (five years) by default, and never
less outside development (``services.ledger.settings.retention_floor``; in development never less than the
180 days providers' retries and reconciliation need). Transactions, postings, bets, accounts and
limit changes are never deleted. Published outbox rows are only the events' way to Kafka and go
sooner. Every run is recorded in ``retention_runs`` and logged with its counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from services.ledger.settings import retention_floor
from shared.settings import Environment

_DELETE_DECISIONS = "DELETE FROM decisions WHERE decided_at < $1"
_DELETE_TOMBSTONES = "DELETE FROM rollback_tombstones WHERE created_at < $1"
_DELETE_OUTBOX = "DELETE FROM outbox WHERE published_at IS NOT NULL AND published_at < $1"
_RECORD = """
INSERT INTO retention_runs (cutoff, decisions_deleted, tombstones_deleted, outbox_deleted)
VALUES ($1, $2, $3, $4)
"""


@dataclass(frozen=True, slots=True)
class RetentionResult:
    cutoff: datetime
    decisions: int
    tombstones: int
    outbox: int


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])


async def expire(
    conn: asyncpg.Connection,
    *,
    now: datetime,
    days: int,
    outbox_days: int,
    environment: Environment,
) -> RetentionResult:
    """Delete decisions and tombstones older than ``days`` (refused under the environment's
    floor) and published outbox rows older than ``outbox_days``."""
    floor = retention_floor(environment)
    if days < floor:
        raise ValueError(f"retention must be at least {floor} days in {environment}, got {days}")
    if outbox_days < 1:
        raise ValueError(f"outbox retention must be at least 1 day, got {outbox_days}")
    cutoff = now - timedelta(days=days)
    async with conn.transaction():
        decisions = _count(await conn.execute(_DELETE_DECISIONS, cutoff))
        tombstones = _count(await conn.execute(_DELETE_TOMBSTONES, cutoff))
        outbox = _count(await conn.execute(_DELETE_OUTBOX, now - timedelta(days=outbox_days)))
        await conn.execute(_RECORD, cutoff, decisions, tombstones, outbox)
    return RetentionResult(cutoff, decisions, tombstones, outbox)
