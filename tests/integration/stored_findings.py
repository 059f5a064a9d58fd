"""Findings stored as the reconciler stores them, for the tests that read or change them."""

from __future__ import annotations

import uuid

import asyncpg


async def a_finding(
    db_pool: asyncpg.Pool, session_id: str, finding_class: str = "missing_in_ledger"
) -> int:
    """One finding of a finished manual run, as the reconciler would store it."""
    run_id = await db_pool.fetchval(
        """
        INSERT INTO reconciliation_runs
            (trigger, status, window_from, window_to, advances_watermark, finished_at)
        VALUES ('manual', 'finished', now(), now(), false, now())
        RETURNING run_id
        """
    )
    finding_id: int = await db_pool.fetchval(
        """
        INSERT INTO reconciliation_findings
            (dedupe_key, finding_class, provider, session_id, kind, provider_tx_id, user_id,
             currency, detail, provider_row, ledger_row, first_run_id, last_run_id)
        VALUES ($1, $2, 'hypetech', $3, 'bet', '559', 'u1', 'BRL', 'SUCCESS at Hypetech only',
                '{"transactionId": "559", "amount": 2.5}', NULL, $4, $4)
        RETURNING finding_id
        """,
        uuid.uuid4().hex,
        finding_class,
        session_id,
        run_id,
    )
    return finding_id
