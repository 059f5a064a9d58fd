"""Retention of idempotency keys, tombstones and published outbox rows: explicit, never silent.

Decisions (the idempotency keys with their stored responses) and rollback tombstones are kept at
least ``MIN_RETENTION_DAYS`` (providers retry for days; reconciliation looks back months). Postings,
transactions, bets and accounts are never deleted. Every run is recorded in ``retention_runs`` and
logged with its counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

MIN_RETENTION_DAYS = 180

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


async def expire(conn: asyncpg.Connection, *, now: datetime, days: int) -> RetentionResult:
    """Delete keys, tombstones and published outbox rows older than ``days`` (>= 180)."""
    if days < MIN_RETENTION_DAYS:
        raise ValueError(f"retention must be at least {MIN_RETENTION_DAYS} days, got {days}")
    cutoff = now - timedelta(days=days)
    async with conn.transaction():
        decisions = _count(await conn.execute(_DELETE_DECISIONS, cutoff))
        tombstones = _count(await conn.execute(_DELETE_TOMBSTONES, cutoff))
        outbox = _count(await conn.execute(_DELETE_OUTBOX, cutoff))
        await conn.execute(_RECORD, cutoff, decisions, tombstones, outbox)
    return RetentionResult(cutoff, decisions, tombstones, outbox)
