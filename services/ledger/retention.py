"""Retention of decisions, tombstones and published outbox rows: explicit, never silent.

Decisions (the idempotency keys with their stored responses, accepted and refused) and rollback
tombstones are records of money: kept ``RECORDS_RETENTION_DAYS`` (five years) by default, and never
less outside development (``services.ledger.settings.retention_floor``; in development never less than the
180 days providers' retries and reconciliation need). Transactions, postings, bets, accounts and
limit changes are never deleted. Published outbox rows are only the events' way to Kafka and go
sooner. Every run is recorded in ``retention_runs`` and logged with its counts.

A month of a large operator is hundreds of millions of rows, so nothing is deleted in one
statement. ``decisions`` is partitioned by month (migration 0038) and its keys are in
``idempotency_keys``: a run deletes the keys older than the cutoff in batches of at most
``batch_rows`` rows (narrow rows), then removes each month wholly past the cutoff with ``DETACH
PARTITION ... CONCURRENTLY`` and ``DROP TABLE`` (no row deleted, nothing left for vacuum; the
ledger's reads and inserts never wait for it), and deletes the rows of the month at the edge
(the cutoff falls inside it) in batches. A key goes before its decision, so a redelivery never
finds a key without its stored answer. Tombstones and published outbox rows go in batches too.
Each batch is its own short transaction (no lock, snapshot or WAL of a whole month is ever
held); it takes the next rows through the table's time index from where the previous batch
stopped (keyset, so dead index entries of earlier batches are not walked again) and deletes
them by ``ctid``. The run's row in ``retention_runs`` is written first (cutoff, counts 0) and
each batch adds its count to it in the batch's own transaction (``decisions_deleted`` counts the
keys, one per decision; ``partitions_dropped`` the months), so the row always says exactly what
is gone, even if the job is stopped halfway (the next run goes on from there). ``max_seconds``
bounds a run: once spent, the run stops between batches and says it is incomplete.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from services.ledger.settings import retention_floor
from services.ledger.store import add_months
from shared.logs import get_logger
from shared.settings import Environment

log = get_logger("hypeledger.retention")

#: Rows per batch: about 0.8 MB of WAL and 0.1 s of a transaction (at most 1.1 s) on this 2-core
#: machine under load (`python -m bench retention`, docs/ledger.md "Sized for years").
BATCH_ROWS = 10_000


def _batch(table: str, column: str, published_only: bool = False) -> str:
    """One batch: the oldest rows from $2 and before $1, at most $3, deleted by ``ctid``
    through the table's time index; returns how many and the newest time deleted."""
    only = "published_at IS NOT NULL AND " if published_only else ""
    return f"""
        WITH gone AS (
            DELETE FROM {table} WHERE ctid = ANY(ARRAY(
                SELECT ctid FROM {table}
                WHERE {only}{column} >= $2 AND {column} < $1
                ORDER BY {column} LIMIT $3
            ))
            RETURNING {column}
        )
        SELECT count(*), max({column}) FROM gone
    """


#: Per table: the counter column in retention_runs, and its batch. A decision is counted by its
#: key; its row goes with its month's partition, or in ``_edge_batch``.
_BATCHES = {
    "keys": ("decisions_deleted", _batch("idempotency_keys", "decided_at")),
    "tombstones": ("tombstones_deleted", _batch("rollback_tombstones", "created_at")),
    "outbox": ("outbox_deleted", _batch("outbox", "published_at", published_only=True)),
}
_START = """
INSERT INTO retention_runs (cutoff, decisions_deleted, tombstones_deleted, outbox_deleted)
VALUES ($1, 0, 0, 0)
RETURNING run_id
"""

#: The partitions of decisions, oldest first: name, bounds, and whether a detach of it was
#: interrupted (it is finished, then dropped). Bounds are read back from the partition's own
#: bound expression (``decisions_add_months`` writes FROM (...) TO (...)).
_PARTITIONS = r"""
SELECT c.relname::text AS name, b[1]::timestamptz AS lower, b[2]::timestamptz AS upper,
       i.inhdetachpending AS pending
FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
CROSS JOIN LATERAL regexp_match(
    pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']*)''\) TO \(''([^'']*)''\)'
) AS b
WHERE i.inhparent = 'decisions'::regclass
ORDER BY lower
"""


#: Months of decisions wholly before the cutoff ($1) that are detached but not dropped: a run
#: stopped between its DETACH (committed on its own) and its DROP TABLE leaves a plain table that
#: ``_PARTITIONS`` no longer lists. The month is read from the name ``decisions_add_months`` gives.
_DETACHED = r"""
SELECT c.relname::text AS name
FROM pg_class c
WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
  AND NOT c.relispartition
  AND CASE WHEN c.relname ~ '^decisions_y[0-9]{4}m[0-9]{2}$'  -- parsed only when it is a month
      THEN (to_date(substr(c.relname, 12), 'YYYY"m"MM') + interval '1 month') AT TIME ZONE 'UTC'
           <= $1::timestamptz
      ELSE false END
ORDER BY c.relname
"""


def _edge_batch(partition: str) -> str:
    """A batch of the month at the edge: its oldest rows before the cutoff, from ``partition``
    itself (a ctid names a row only within its partition)."""
    return _batch(f'"{partition}"', "decided_at")


@dataclass(frozen=True, slots=True)
class RetentionResult:
    cutoff: datetime
    decisions: int
    tombstones: int
    outbox: int
    batches: int = 0
    longest_batch_s: float = 0.0
    """The longest single batch transaction (delete and count), in seconds."""
    complete: bool = True
    """False when ``max_seconds`` ran out first: the next run deletes the rest."""
    partitions_dropped: int = 0
    """Months of ``decisions`` wholly past the cutoff, detached and dropped."""
    longest_detach_s: float = 0.0
    """The longest DETACH PARTITION CONCURRENTLY (its wait for older transactions included)."""


@dataclass(slots=True)
class _Run:
    run_id: int
    deadline: float
    batches: int = 0
    longest_s: float = 0.0
    out_of_time: bool = False
    dropped: int = 0
    longest_detach_s: float = 0.0

    def spent(self) -> bool:
        if time.monotonic() >= self.deadline:
            self.out_of_time = True
        return self.out_of_time


async def _expire_table(
    conn: asyncpg.Connection,
    run: _Run,
    table: str,
    cutoff: datetime,
    batch_rows: int,
    *,
    since: datetime | None = None,
) -> int:
    """Delete ``table``'s rows before ``cutoff`` in batches (``table`` a key of ``_BATCHES``,
    or a partition of decisions: its rows are not counted, their keys were)."""
    if table in _BATCHES:
        column, statement = _BATCHES[table]
        record: str | None = f"UPDATE retention_runs SET {column} = {column} + $2 WHERE run_id = $1"
    else:
        statement, record = _edge_batch(table), None
    deleted = 0
    since = since or datetime.min.replace(tzinfo=cutoff.tzinfo)
    while True:
        if run.spent():
            return deleted
        started = time.monotonic()
        async with conn.transaction():
            row = await conn.fetchrow(statement, cutoff, since, batch_rows)
            count, newest = int(row[0]), row[1]
            if count and record is not None:
                await conn.execute(record, run.run_id, count)
        run.longest_s = max(run.longest_s, time.monotonic() - started)
        run.batches += 1
        deleted += count
        if count < batch_rows:
            return deleted
        since = newest


async def _detach_month(conn: asyncpg.Connection, run: _Run, name: str, pending: bool) -> None:
    """Detach a month's partition without blocking the ledger. CONCURRENTLY runs outside a
    transaction and waits only for the transactions that were already using decisions; an
    interrupted one left the partition pending, and FINALIZE completes it."""
    started = time.monotonic()
    how = "FINALIZE" if pending else "CONCURRENTLY"
    await conn.execute(f'ALTER TABLE decisions DETACH PARTITION "{name}" {how}')
    run.longest_detach_s = max(run.longest_detach_s, time.monotonic() - started)
    log.info(
        "ledger.retention.month_detached",
        partition=name,
        detach_s=round(time.monotonic() - started, 3),
    )


async def _drop_month(conn: asyncpg.Connection, run: _Run, name: str) -> None:
    """Drop a detached month and count it in the run's row, in one transaction."""
    async with conn.transaction():
        await conn.execute(f'DROP TABLE "{name}"')
        await conn.execute(
            "UPDATE retention_runs SET partitions_dropped = partitions_dropped + 1"
            " WHERE run_id = $1",
            run.run_id,
        )
    run.dropped += 1
    log.info("ledger.retention.month_dropped", partition=name)


async def _expire_decisions(
    conn: asyncpg.Connection, run: _Run, cutoff: datetime, batch_rows: int
) -> int:
    """The keys before ``cutoff`` (counted), then each month wholly before it (dropped) and the
    rows before it of the month it falls in (deleted in batches)."""
    deleted = await _expire_table(conn, run, "keys", cutoff, batch_rows)
    for row in await conn.fetch(_DETACHED, cutoff):
        await _drop_month(conn, run, row["name"])
    for part in await conn.fetch(_PARTITIONS):
        if part["lower"] >= cutoff or run.spent():
            break
        if part["upper"] <= cutoff:
            await _detach_month(conn, run, part["name"], part["pending"])
            await _drop_month(conn, run, part["name"])
        else:
            await _expire_table(conn, run, part["name"], cutoff, batch_rows, since=part["lower"])
    return deleted


async def expire(
    conn: asyncpg.Connection,
    *,
    now: datetime,
    days: int,
    outbox_days: int,
    environment: Environment,
    batch_rows: int = BATCH_ROWS,
    max_seconds: float | None = None,
) -> RetentionResult:
    """Delete decisions and tombstones older than ``days`` (refused under the environment's
    floor) and published outbox rows older than ``outbox_days``, in batches of ``batch_rows``
    rows, each its own transaction, for at most ``max_seconds`` (None: until done)."""
    floor = retention_floor(environment)
    if days < floor:
        raise ValueError(f"retention must be at least {floor} days in {environment}, got {days}")
    if outbox_days < 1:
        raise ValueError(f"outbox retention must be at least 1 day, got {outbox_days}")
    if batch_rows < 1:
        raise ValueError(f"a batch must delete at least 1 row, got {batch_rows}")
    cutoff = now - timedelta(days=days)
    deadline = time.monotonic() + (float("inf") if max_seconds is None else max_seconds)
    run = _Run(await conn.fetchval(_START, cutoff), deadline)
    await add_months(conn)  # the months ahead, should the ledger not have made them
    decisions = await _expire_decisions(conn, run, cutoff, batch_rows)
    tombstones = await _expire_table(conn, run, "tombstones", cutoff, batch_rows)
    outbox = await _expire_table(conn, run, "outbox", now - timedelta(days=outbox_days), batch_rows)
    result = RetentionResult(
        cutoff,
        decisions,
        tombstones,
        outbox,
        batches=run.batches,
        longest_batch_s=round(run.longest_s, 3),
        complete=not run.out_of_time,
        partitions_dropped=run.dropped,
        longest_detach_s=round(run.longest_detach_s, 3),
    )
    log.info(
        "ledger.retention.ran",
        run_id=run.run_id,
        cutoff=cutoff.isoformat(),
        decisions=decisions,
        tombstones=tombstones,
        outbox=outbox,
        batches=run.batches,
        longest_batch_s=result.longest_batch_s,
        partitions_dropped=result.partitions_dropped,
        longest_detach_s=result.longest_detach_s,
        complete=result.complete,
    )
    return result
