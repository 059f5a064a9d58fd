"""Offsets reach Kafka at most once per ``kafka_commit_interval_s``, and all of them at a stop.

Postgres holds the offsets the ledger resumes from; Kafka's copy serves the tools that measure a
group's lag. Committing it after every batch cost the broker a request per batch.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from ledger_harness import PARTITIONS, ledger_harness, unique, webhook

from services.ledger.settings import LedgerSettings
from shared.contracts.commands import WebhookKind
from tests.group_offsets import group_offsets


async def committed_and_end(settings: LedgerSettings) -> tuple[int, int]:
    """The group's committed offsets and the topic's end offsets, each summed over partitions."""
    committed, ends = await group_offsets(settings, settings.consumer_group, PARTITIONS)
    return sum(committed.values()), sum(ends.values())


async def test_commits_at_most_once_an_interval_and_everything_pending_at_stop(
    common_env: dict[str, Any], db_pool: asyncpg.Pool
) -> None:
    async with ledger_harness(common_env, db_pool, kafka_commit_interval_s=60) as ledger:
        settings = ledger.settings
        user = await ledger.player("100.00")
        # the first commit is made at once (there was none before); what follows waits
        for _ in range(100):
            after_setup = await committed_and_end(settings)
            if after_setup[0] > 0:
                break
            await asyncio.sleep(0.1)
        for _ in range(3):
            reply = await ledger.send(webhook(WebhookKind.BET, user, unique("b"), "1.00"))
            assert reply.status == 200, reply.body
        await asyncio.sleep(1.0)  # time enough for a commit that did not wait for the interval
        during = await committed_and_end(settings)

    after_stop = await committed_and_end(settings)
    assert 0 < after_setup[0] <= after_setup[1]
    assert during == (after_setup[0], after_setup[1] + 3)
    assert after_stop == (during[1], during[1])
