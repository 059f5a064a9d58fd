"""A ledger whose Postgres restarts heals by itself: it pauses, retries, and applies again within
seconds of Postgres answering, without a restart of its own and without applying anything twice.

Postgres is stopped immediately (every connection cut, no checkpoint) under load, and started
again after a few seconds, or after a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from ledger_processes import (
    Load,
    Replies,
    applied_offsets,
    build_load,
    chaos_settings,
    check_end_state,
    create_topics,
    start_ledger,
    until,
    wait_all_applied,
)
from restartable_postgres import RestartablePostgres

from services.ledger.audit import audit
from services.ledger.settings import LedgerSettings
from shared.db.databases import migrated_database

pytestmark = pytest.mark.chaos

#: What the issue asks: applying again within 5 s of Postgres answering.
APPLIES_AGAIN_WITHIN_S = 5.0


async def publish_steadily(replies: Replies, load: Load, chunk: int = 10) -> list[str]:
    """Publish the load a chunk at a time, about 200 commands a second."""
    sent: list[str] = []
    for start in range(0, len(load.commands), chunk):
        sent += await replies.publish(load.commands[start : start + chunk])
        await asyncio.sleep(0.05)
    return sent


async def applied_now(dsn: str, settings: LedgerSettings) -> int:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    try:
        return await applied_offsets(pool, settings)
    finally:
        await pool.close()


async def retry_unanswered(replies: Replies, sent: list[str]) -> int:
    """Send again, as a provider does after its timeout, every command that got no reply: those
    of a batch whose commit reached Postgres while its acknowledgement was lost with the
    connection (the ledger finds them applied and does not answer them twice). Each must then be
    answered with its stored decision. Returns how many were sent again."""
    with contextlib.suppress(AssertionError):
        await replies.wait_for(sent, within_s=10)
    unanswered = [cid for cid in sent if cid not in replies.received]
    if unanswered:
        again = await replies.publish([replies.sent[cid] for cid in unanswered])
        await replies.wait_for(again, within_s=60)
    return len(unanswered)


@pytest.mark.parametrize("down_s", [3.0, 60.0], ids=["down-3s", "down-60s"])
async def test_applies_again_within_seconds_of_postgres_answering(
    common_env: dict[str, Any], tmp_path: Path, down_s: float
) -> None:
    postgres = RestartablePostgres()
    try:
        admin = await postgres.start()
        async with migrated_database(admin, f"hypeledger_restart_{uuid.uuid4().hex[:8]}") as dsn:
            settings = chaos_settings({**common_env, "database_url": dsn})
            await create_topics(settings)
            load = build_load(players=10, bets=60)
            ledger = start_ledger(settings, tmp_path)
            try:
                await ledger.ready()
                async with Replies(settings) as replies:
                    publishing = asyncio.create_task(publish_steadily(replies, load))

                    async def some_applied() -> bool:
                        return await applied_now(dsn, settings) > 0

                    await until(some_applied, within_s=60)
                    postgres.stop_immediately()
                    await asyncio.sleep(down_s)
                    await postgres.restart()
                    answered_at = time.monotonic()
                    before = await applied_now(dsn, settings)

                    async def applies_again() -> bool:
                        return await applied_now(dsn, settings) > before

                    await until(applies_again, within_s=60, pause_s=0.02)
                    took = time.monotonic() - answered_at
                    sent = await publishing
                    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
                    try:
                        await wait_all_applied(pool, settings, len(load.commands))
                        retried = await retry_unanswered(replies, sent)
                        await check_end_state(pool, load)
                        async with pool.acquire() as conn:
                            report = await audit(conn)
                    finally:
                        await pool.close()
                restarted = ledger.process.poll() is not None
            finally:
                ledger.terminate()
    finally:
        postgres.stop()

    log = ledger.log.read_text()
    logging.getLogger(__name__).warning(
        "down %s s: the ledger applied again %.2f s after Postgres answered (%d sent again)",
        down_s,
        took,
        retried,
    )
    assert not restarted, log[-3000:]
    assert took < APPLIES_AGAIN_WITHIN_S, (took, log[-3000:])
    assert '"ledger.partition.retrying"' in log
    assert '"ledger.partition.stopped"' not in log, log[-3000:]
    assert report.clean, report.violations
    assert all(
        reply.status == 200 for replies_of in replies.received.values() for reply in replies_of
    )
