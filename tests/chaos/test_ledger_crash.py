"""Real ledger processes killed with SIGKILL at the worst moments, and two members rebalancing.

After every scenario: no decision applied twice, none lost (one decision per key, balances and bets
exactly as the load says, audit clean), and a redelivered command is answered with the stored
reply byte for byte.
"""

from __future__ import annotations

import asyncio
import random
import signal
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from ledger_processes import (
    Replies,
    applied_offsets,
    build_load,
    chaos_settings,
    check_end_state,
    create_topics,
    start_ledger,
    wait_all_applied,
)

from services.ledger.audit import audit

pytestmark = pytest.mark.chaos


async def assert_redelivery_is_answered_byte_for_byte(
    replies: Replies, first_ids: list[str]
) -> None:
    commands = [replies.sent[cid] for cid in first_ids]
    again = await replies.publish(commands)
    await replies.wait_for(again)
    for first, second in zip(first_ids, again, strict=True):
        replayed = replies.received[second][0]
        assert replayed.replayed
        for original in replies.received.get(first, []):
            assert original.body == replayed.body
            assert original.status == replayed.status


async def assert_audit_clean(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        report = await audit(conn)
    assert report.clean, report.violations


async def crash_and_recover(
    common_env: dict[str, Any],
    pool: asyncpg.Pool,
    logs: Path,
    fault: str,
    *,
    max_batch: int = 20,
    players: int = 12,
) -> tuple[int, int]:
    """Pre-load a load, let a ledger die at ``fault``, recover with a fresh one, check it all.

    Returns the victim's exit code and the offsets it had committed to Postgres.
    """
    settings = chaos_settings(common_env, max_batch=max_batch)
    await create_topics(settings)
    load = build_load(players=players, bets=8)
    async with Replies(settings) as replies:
        ids = await replies.publish(load.commands)
        victim = start_ledger(settings, logs, fault=fault)
        exit_code = await victim.exited()
        committed_before_restart = await applied_offsets(pool, settings)
        survivor = start_ledger(settings, logs)
        try:
            await wait_all_applied(pool, settings, len(load.commands))
            await replies.wait_for(ids[-1:])
            await check_end_state(pool, load)
            await assert_redelivery_is_answered_byte_for_byte(replies, ids)
        finally:
            survivor.terminate()
    await assert_audit_clean(pool)
    return exit_code, committed_before_restart


async def test_applies_nothing_twice_after_a_kill_between_the_db_commit_and_the_offset_commit(
    common_env: dict[str, Any], db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    exit_code, committed = await crash_and_recover(
        common_env, db_pool, tmp_path, "after_db_commit:1"
    )

    assert exit_code == -signal.SIGKILL
    assert committed > 0


async def test_reapplies_a_batch_killed_in_the_middle_of_its_transaction(
    common_env: dict[str, Any], db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """Batches of at most 20: killed after deciding, before the statement that writes them."""
    exit_code, _ = await crash_and_recover(common_env, db_pool, tmp_path, "mid_batch:3")

    assert exit_code == -signal.SIGKILL


async def test_reapplies_a_large_batch_killed_before_its_write(
    common_env: dict[str, Any], db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """A backlog of about a hundred commands per partition, batches of up to 200: the kill
    lands after deciding a large batch, before the one statement that writes it."""
    exit_code, committed = await crash_and_recover(
        common_env, db_pool, tmp_path, "mid_batch:1", max_batch=200, players=40
    )

    assert exit_code == -signal.SIGKILL
    assert committed == 0


async def test_survives_random_kills_under_load(
    common_env: dict[str, Any], db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    seed = random.randrange(1 << 30)
    chooser = random.Random(seed)
    settings = chaos_settings(common_env, max_batch=10)
    await create_topics(settings)
    load = build_load(players=16, bets=12)
    chunks = [load.commands[i : i + 60] for i in range(0, len(load.commands), 60)]
    async with Replies(settings) as replies:
        ids: list[str] = []
        ledger = start_ledger(settings, tmp_path)
        try:
            for number, chunk in enumerate(chunks):
                ids += await replies.publish(chunk)
                if number % 2 == 1:
                    await ledger.ready()
                    await asyncio.sleep(chooser.uniform(0.0, 0.4))
                    ledger.kill()
                    ledger = start_ledger(settings, tmp_path)
            await wait_all_applied(db_pool, settings, len(load.commands))

            await check_end_state(db_pool, load)
            await assert_redelivery_is_answered_byte_for_byte(replies, ids)
        finally:
            ledger.terminate()
    await assert_audit_clean(db_pool)
    assert seed >= 0  # the seed is in the failure report's locals


async def test_two_members_share_the_load_through_rebalances(
    common_env: dict[str, Any], db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    settings = chaos_settings(common_env, max_batch=10)
    await create_topics(settings)
    load = build_load(players=16, bets=12)
    half = len(load.commands) // 2
    async with Replies(settings) as replies:
        first = start_ledger(settings, tmp_path)
        second = None
        try:
            await first.ready()
            ids = await replies.publish(load.commands[:half])
            second = start_ledger(settings, tmp_path)
            ids += await replies.publish(load.commands[half:])
            await second.ready()
            first.terminate()
            await wait_all_applied(db_pool, settings, len(load.commands))

            await check_end_state(db_pool, load)
            await assert_redelivery_is_answered_byte_for_byte(replies, ids)
        finally:
            first.terminate()
            if second is not None:
                second.terminate()
    await assert_audit_clean(db_pool)
