"""The reconciler's SQL: runs and their per-session progress, findings, the watermark, and the
ledger rows of a set of sessions. Plain SQL with ``$n`` parameters; a chunk of sessions is
committed in one transaction together with its findings, so a killed run resumes cleanly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.reconciler.matcher import Difference
from services.reconciler.rounds import Settlement
from services.reconciler.rows import LedgerRow
from shared.contracts.bets import BetState
from shared.contracts.commands import WebhookKind
from shared.contracts.problems import slug_of
from shared.currencies import DEFAULT_CURRENCIES, CurrencyTable
from shared.db import findings as finding_status
from shared.jsonwire import MalformedJson, dumps_compact, loads_exact
from shared.money import minor_to_decimal

WATERMARK = "sessions"
RECONCILER = "reconciler"
#: Every reconciler holds this advisory lock while it runs: one run at a time, and a killed
#: reconciler's lock goes with its connection.
RUN_LOCK = 0x6879_7065_7265_63  # "hyperec"


@dataclass(frozen=True, slots=True)
class Run:
    run_id: int
    trigger: str
    session_filter: str | None
    window_from: datetime
    window_to: datetime
    advances_watermark: bool
    resumed: int


@dataclass(frozen=True, slots=True)
class SessionOutcome:
    session_id: str
    provider_rows: int
    ledger_rows: int
    totals: Counter[str]
    differences: Sequence[Difference]
    error: str | None = None
    settlements: Sequence[Settlement] = ()


@dataclass(frozen=True, slots=True)
class RunReport:
    run_id: int
    trigger: str
    resumed: int
    window_from: datetime
    window_to: datetime
    sessions_total: int
    sessions_done: int
    sessions_failed: int
    provider_rows: int
    ledger_rows: int
    totals: dict[str, int]
    started_at: datetime
    finished_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "trigger": self.trigger,
            "resumed": self.resumed,
            "window_from": self.window_from.isoformat(),
            "window_to": self.window_to.isoformat(),
            "sessions_total": self.sessions_total,
            "sessions_done": self.sessions_done,
            "sessions_failed": self.sessions_failed,
            "provider_rows": self.provider_rows,
            "ledger_rows": self.ledger_rows,
            "totals": self.totals,
            "started_at": self.started_at.isoformat(),
            "finished_at": None if self.finished_at is None else self.finished_at.isoformat(),
        }


class AnotherRunActive(RuntimeError):
    """Another reconciler holds the run lock."""


# -- runs -------------------------------------------------------------------------------------

_RUN_COLUMNS = (
    "run_id, trigger, session_filter, window_from, window_to, advances_watermark, resumed"
)

SQL_RUNNING = f"""
SELECT {_RUN_COLUMNS}
FROM reconciliation_runs
WHERE status = 'running'
"""

SQL_RESUME = f"""
UPDATE reconciliation_runs
SET resumed = resumed + 1
WHERE run_id = $1
RETURNING {_RUN_COLUMNS}
"""

SQL_WATERMARK = """
SELECT watermark
FROM reconciliation_watermarks
WHERE name = $1
"""

SQL_INSERT_RUN = f"""
INSERT INTO reconciliation_runs (
    trigger, session_filter, window_from, window_to, advances_watermark)
VALUES ($1, $2, $3, $4, $5)
RETURNING {_RUN_COLUMNS}
"""

SQL_INSERT_RUN_SESSIONS = """
INSERT INTO reconciliation_run_sessions (run_id, session_id)
SELECT $1, unnest($2::text[])
ON CONFLICT DO NOTHING
"""

SQL_SET_SESSIONS_TOTAL = """
UPDATE reconciliation_runs
SET sessions_total = (SELECT count(*) FROM reconciliation_run_sessions WHERE run_id = $1)
WHERE run_id = $1
"""

SQL_ACTIVE_SESSIONS = """
SELECT DISTINCT d.session_token
FROM decisions d
WHERE d.decided_at > $1
  AND d.decided_at <= $2
  AND d.session_token IS NOT NULL
"""

SQL_FAILED_LAST_RUN = """
SELECT s.session_id
FROM reconciliation_run_sessions s
WHERE s.state = 'failed'
  AND s.run_id = (SELECT max(run_id) FROM reconciliation_runs WHERE status = 'finished')
"""

SQL_PENDING_SESSIONS = """
SELECT session_id
FROM reconciliation_run_sessions
WHERE run_id = $1
  AND state = 'pending'
ORDER BY session_id
LIMIT $2
"""

SQL_SESSIONS_DONE = """
UPDATE reconciliation_run_sessions s
SET state = u.state,
    provider_rows = u.provider_rows,
    ledger_rows = u.ledger_rows,
    totals = u.totals::jsonb,
    error = u.error,
    finished_at = now()
FROM unnest($2::text[], $3::text[], $4::int[], $5::int[], $6::text[], $7::text[])
    AS u (session_id, state, provider_rows, ledger_rows, totals, error)
WHERE s.run_id = $1
  AND s.session_id = u.session_id
  AND s.state = 'pending'
"""

SQL_RUN_TOTALS = """
SELECT t.key, sum(t.value::bigint)::bigint AS n
FROM reconciliation_run_sessions s, jsonb_each_text(s.totals) t
WHERE s.run_id = $1
GROUP BY t.key
"""

SQL_RUN_COUNTS = """
SELECT count(*) FILTER (WHERE state = 'done') AS done,
       count(*) FILTER (WHERE state = 'failed') AS failed,
       coalesce(sum(provider_rows), 0)::bigint AS provider_rows,
       coalesce(sum(ledger_rows), 0)::bigint AS ledger_rows
FROM reconciliation_run_sessions
WHERE run_id = $1
"""

SQL_FINISH_RUN = """
UPDATE reconciliation_runs
SET status = 'finished',
    finished_at = now(),
    totals = $2::jsonb
WHERE run_id = $1
  AND status = 'running'
"""

SQL_ADVANCE_WATERMARK = """
INSERT INTO reconciliation_watermarks (name, watermark, run_id)
VALUES ($1, $2, $3)
ON CONFLICT (name) DO UPDATE
SET watermark = greatest(reconciliation_watermarks.watermark, excluded.watermark),
    run_id = excluded.run_id,
    updated_at = now()
"""

SQL_REPORT = """
SELECT run_id, trigger, resumed, window_from, window_to, sessions_total, totals,
       started_at, finished_at
FROM reconciliation_runs
WHERE run_id = $1
"""

# -- findings ---------------------------------------------------------------------------------

SQL_UPSERT_FINDINGS = """
INSERT INTO reconciliation_findings AS f (
    dedupe_key, finding_class, provider, session_id, kind, provider_tx_id, round_id, user_id,
    currency, detail, provider_row, ledger_row, first_run_id, last_run_id)
SELECT u.dedupe_key, u.finding_class, $2, u.session_id, u.kind, u.provider_tx_id, u.round_id,
       u.user_id, u.currency, u.detail, u.provider_row::jsonb, u.ledger_row::jsonb, $1, $1
FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
            $10::text[], $11::text[], $12::text[], $13::text[])
    AS u (dedupe_key, finding_class, session_id, kind, provider_tx_id, round_id, user_id,
          currency, detail, provider_row, ledger_row)
ON CONFLICT (dedupe_key) DO UPDATE
SET last_run_id = excluded.last_run_id,
    last_seen_at = now(),
    times_seen = f.times_seen + 1,
    detail = excluded.detail,
    provider_row = excluded.provider_row,
    ledger_row = excluded.ledger_row
WHERE f.last_run_id <> excluded.last_run_id
RETURNING finding_id, (xmax = 0) AS inserted
"""

SQL_FIRST_CHANGES = """
INSERT INTO reconciliation_finding_changes (
    finding_id, version, from_status, to_status, changed_by, reason)
SELECT unnest($1::bigint[]), 1, NULL, 'open', $2, $3
"""

SQL_REOPEN_CANDIDATES = """
SELECT finding_id
FROM reconciliation_findings
WHERE dedupe_key = ANY($1::text[])
  AND status = 'resolved'
"""

SQL_NO_LONGER_FOUND = """
SELECT finding_id
FROM reconciliation_findings
WHERE session_id = ANY($1::text[])
  AND status = 'open'
  AND NOT (dedupe_key = ANY($2::text[]))
"""

_FINDING_COLUMNS = """
finding_id, version, dedupe_key, finding_class, status, provider, session_id, kind,
provider_tx_id, round_id, user_id, currency, detail, provider_row::text AS provider_row,
ledger_row::text AS ledger_row, last_run_id AS run_id, first_seen_at, last_seen_at, times_seen,
status_changed_by, status_changed_at, status_reason
"""

SQL_UNPUBLISHED = f"""
SELECT {_FINDING_COLUMNS}
FROM reconciliation_findings
WHERE published_version < version
ORDER BY finding_id
LIMIT $1
"""

SQL_MARK_PUBLISHED = """
UPDATE reconciliation_findings f
SET published_version = u.version
FROM unnest($1::bigint[], $2::int[]) AS u (finding_id, version)
WHERE f.finding_id = u.finding_id
  AND f.published_version < u.version
"""

SQL_STORE_SETTLEMENTS = """
INSERT INTO reconciler_round_settlements
    (idempotency_key, run_id, session_id, user_id, currency, round_id, bet_tx_ids)
SELECT s.key, $1, s.session_id, s.user_id, s.currency, s.round_id,
       ARRAY(SELECT jsonb_array_elements_text(s.bets::jsonb))
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
     AS s(key, session_id, user_id, currency, round_id, bets)
ON CONFLICT (idempotency_key) DO NOTHING
"""

SQL_UNSENT_SETTLEMENTS = """
SELECT idempotency_key, user_id, currency, round_id, bet_tx_ids
FROM reconciler_round_settlements
WHERE sent_at IS NULL
ORDER BY created_at, idempotency_key
"""

SQL_SETTLEMENT_SENT = """
UPDATE reconciler_round_settlements
SET sent_at = now(), reply_status = $2
WHERE idempotency_key = $1
"""

# -- the ledger's side ------------------------------------------------------------------------

SQL_LEDGER_ROWS = """
SELECT d.session_token, d.kind, d.provider_tx_id, d.user_id, d.currency, d.amount, d.round_id,
       d.target_tx_id, d.status, d.operator_tx_id::text AS operator_tx_id, d.decided_at,
       CASE WHEN d.status <> 200 THEN d.body END AS body,
       b.state AS bet_state, tb.amount AS target_stake
FROM decisions d
LEFT JOIN bets b
  ON d.kind = 'bet' AND b.provider = d.provider AND b.bet_tx_id = d.provider_tx_id
LEFT JOIN bets tb
  ON d.kind = 'rollback' AND tb.provider = d.provider AND tb.bet_tx_id = d.target_tx_id
WHERE d.session_token = ANY($1::text[])
"""


class ReconcilerStore:
    def __init__(
        self, pool: asyncpg.Pool, provider: str, currencies: CurrencyTable = DEFAULT_CURRENCIES
    ) -> None:
        self._pool = pool
        self._provider = provider
        self._currencies = currencies

    # -- runs -------------------------------------------------------------------------------

    async def try_lock(self, conn: asyncpg.Connection) -> bool:
        return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", RUN_LOCK))

    async def resume_running(self) -> Run | None:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(SQL_RUNNING)
            if row is None:
                return None
            resumed = await conn.fetchrow(SQL_RESUME, row["run_id"])
        return _run(resumed)

    async def watermark(self) -> datetime | None:
        async with self._pool.acquire() as conn:
            value: datetime | None = await conn.fetchval(SQL_WATERMARK, WATERMARK)
        return value

    async def sessions_to_check(self, window_from: datetime, window_to: datetime) -> list[str]:
        """Sessions with ledger activity in the window, and those that failed in the last run."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(SQL_ACTIVE_SESSIONS, window_from, window_to)
            failed = await conn.fetch(SQL_FAILED_LAST_RUN)
        return [r[0] for r in rows] + [r[0] for r in failed]

    async def start_run(
        self,
        *,
        trigger: str,
        session_filter: str | None,
        window_from: datetime,
        window_to: datetime,
        advances_watermark: bool,
        sessions: Iterable[str],
    ) -> Run:
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                SQL_INSERT_RUN, trigger, session_filter, window_from, window_to, advances_watermark
            )
            run = _run(row)
            await conn.execute(SQL_INSERT_RUN_SESSIONS, run.run_id, sorted(set(sessions)))
            await conn.execute(SQL_SET_SESSIONS_TOTAL, run.run_id)
        return run

    async def pending_sessions(self, run_id: int, limit: int | None) -> list[str]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(SQL_PENDING_SESSIONS, run_id, limit)
        return [r[0] for r in rows]

    async def commit_sessions(self, run: Run, outcomes: Sequence[SessionOutcome]) -> list[int]:
        """Store the findings of these sessions and mark them done (or failed), atomically.

        Returns the ids of findings that are new or changed status (to publish)."""
        differences = [
            (o.session_id, d) for o in outcomes if o.error is None for d in o.differences
        ]
        keys = [d.dedupe_key(sid) for sid, d in differences]
        checked = [o.session_id for o in outcomes if o.error is None]
        settlements = [
            (o.session_id, s) for o in outcomes if o.error is None for s in o.settlements
        ]
        async with self._pool.acquire() as conn, conn.transaction():
            touched: list[int] = []
            if settlements:
                await conn.execute(
                    SQL_STORE_SETTLEMENTS, run.run_id, *_settlement_columns(settlements)
                )
            if differences:
                rows = await conn.fetch(
                    SQL_UPSERT_FINDINGS, run.run_id, self._provider, *_columns(differences)
                )
                new = [r["finding_id"] for r in rows if r["inserted"]]
                if new:
                    await conn.execute(
                        SQL_FIRST_CHANGES, new, RECONCILER, f"found by run {run.run_id}"
                    )
                touched += new
                reopen = [r[0] for r in await conn.fetch(SQL_REOPEN_CANDIDATES, keys)]
                touched += await finding_status.set_status(
                    conn, reopen, "open", RECONCILER, f"found again by run {run.run_id}"
                )
            if checked:
                gone = [r[0] for r in await conn.fetch(SQL_NO_LONGER_FOUND, checked, keys)]
                touched += await finding_status.set_status(
                    conn, gone, "resolved", RECONCILER, f"not found again by run {run.run_id}"
                )
            await conn.execute(
                SQL_SESSIONS_DONE,
                run.run_id,
                [o.session_id for o in outcomes],
                ["failed" if o.error is not None else "done" for o in outcomes],
                [o.provider_rows for o in outcomes],
                [o.ledger_rows for o in outcomes],
                [dumps_compact(dict(o.totals)) for o in outcomes],
                [o.error for o in outcomes],
            )
        return touched

    async def set_status(
        self, ids: list[int], status: str, by: str, reason: str | None
    ) -> list[int]:
        async with self._pool.acquire() as conn, conn.transaction():
            return await finding_status.set_status(conn, ids, status, by, reason)

    async def finish_run(self, run: Run) -> RunReport:
        async with self._pool.acquire() as conn, conn.transaction():
            totals = {r["key"]: int(r["n"]) for r in await conn.fetch(SQL_RUN_TOTALS, run.run_id)}
            await conn.execute(SQL_FINISH_RUN, run.run_id, dumps_compact(totals))
            if run.advances_watermark:
                await conn.execute(SQL_ADVANCE_WATERMARK, WATERMARK, run.window_to, run.run_id)
        return await self.report(run.run_id)

    async def report(self, run_id: int) -> RunReport:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(SQL_REPORT, run_id)
            counts = await conn.fetchrow(SQL_RUN_COUNTS, run_id)
        if row is None:
            raise LookupError(f"no run {run_id}")
        return RunReport(
            run_id=row["run_id"],
            trigger=row["trigger"],
            resumed=row["resumed"],
            window_from=row["window_from"],
            window_to=row["window_to"],
            sessions_total=row["sessions_total"],
            sessions_done=counts["done"],
            sessions_failed=counts["failed"],
            provider_rows=counts["provider_rows"],
            ledger_rows=counts["ledger_rows"],
            totals={k: int(v) for k, v in loads_exact(row["totals"]).items()},
            started_at=row["started_at"],
            finished_at=row["finished_at"],
        )

    # -- findings ---------------------------------------------------------------------------

    async def unpublished(self, limit: int) -> list[dict[str, Any]]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(SQL_UNPUBLISHED, limit)
        return [finding_dict(r) for r in rows]

    async def mark_published(self, published: Sequence[tuple[int, int]]) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(
                SQL_MARK_PUBLISHED, [p[0] for p in published], [p[1] for p in published]
            )

    async def unsent_settlements(self) -> list[asyncpg.Record]:
        async with self._pool.acquire() as conn:
            rows: list[asyncpg.Record] = await conn.fetch(SQL_UNSENT_SETTLEMENTS)
        return rows

    async def settlement_sent(self, idempotency_key: str, reply_status: int) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(SQL_SETTLEMENT_SENT, idempotency_key, reply_status)

    # -- the ledger's side ------------------------------------------------------------------

    async def ledger_rows(self, sessions: Sequence[str]) -> dict[str, list[LedgerRow]]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(SQL_LEDGER_ROWS, list(sessions))
        by_session: dict[str, list[LedgerRow]] = {s: [] for s in sessions}
        for r in rows:
            by_session[r["session_token"]].append(_ledger_row(r, self._currencies))
        return by_session


def _settlement_columns(settlements: Sequence[tuple[str, Settlement]]) -> list[list[str]]:
    return [
        [s.idempotency_key for _, s in settlements],
        [session for session, _ in settlements],
        [s.user_id for _, s in settlements],
        [s.currency for _, s in settlements],
        [s.round_id for _, s in settlements],
        [dumps_compact(list(s.bet_tx_ids)) for _, s in settlements],
    ]


def _run(row: asyncpg.Record | None) -> Run:
    if row is None:
        raise LookupError("no such run")
    return Run(
        run_id=row["run_id"],
        trigger=row["trigger"],
        session_filter=row["session_filter"],
        window_from=row["window_from"],
        window_to=row["window_to"],
        advances_watermark=row["advances_watermark"],
        resumed=row["resumed"],
    )


def _columns(differences: Sequence[tuple[str, Difference]]) -> list[list[str | None]]:
    return [
        [d.dedupe_key(sid) for sid, d in differences],
        [d.row_class.value for _, d in differences],
        [sid for sid, _ in differences],
        [d.kind for _, d in differences],
        [d.tx_id for _, d in differences],
        [d.round_id for _, d in differences],
        [d.user_id for _, d in differences],
        [d.currency for _, d in differences],
        [d.detail for _, d in differences],
        [None if d.provider_row is None else dumps_compact(d.provider_row) for _, d in differences],
        [None if d.ledger_row is None else dumps_compact(d.ledger_row) for _, d in differences],
    ]


_KINDS = {kind.value: kind for kind in WebhookKind}
_BET_STATES = {state.value: state for state in BetState}


def _ledger_row(r: asyncpg.Record, currencies: CurrencyTable) -> LedgerRow:
    """A rollback's amount is what the ledger refunded: the stake of the bet it undid (where that
    bet is known here; a tombstone refunds nothing yet, so its own amount stands)."""
    # by position, in SQL_LEDGER_ROWS's order: a run reads a million of them
    (_, kind, tx_id, user_id, currency, amount, round_id, target_tx_id, status,
     operator_tx_id, decided_at, body, bet_state, target_stake) = r  # fmt: skip
    if target_stake is not None:
        amount = minor_to_decimal(target_stake, currency, currencies)
    problem = None
    if status != 200:
        try:
            parsed = loads_exact(body)
        except MalformedJson:
            parsed = {}
        problem = slug_of(parsed) if isinstance(parsed, dict) else None
    return LedgerRow(
        _KINDS[kind],
        tx_id,
        status == 200,
        status,
        amount,
        currency,
        user_id,
        round_id,
        decided_at,
        operator_tx_id,
        None if bet_state is None else _BET_STATES[bet_state],
        target_tx_id,
        problem,
    )


def finding_dict(r: asyncpg.Record) -> dict[str, Any]:
    row = dict(r)
    for key in ("provider_row", "ledger_row"):
        if row[key] is not None:
            row[key] = loads_exact(row[key])
    return row
