"""The ledger's offset commits to Kafka keep their interval under a steady flow of batches.

Pacing only (the consumer's ``commit`` is a stand-in that takes a few milliseconds, as a broker
round trip does); what reaches Kafka is ``tests/integration/ledger/test_ledger_kafka_commits.py``.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from aiokafka import TopicPartition

from services.ledger.app import policy_of
from services.ledger.consumer import LedgerConsumer
from services.ledger.faults import Faults
from services.ledger.metrics import LedgerMetrics
from services.ledger.settings import LedgerSettings

TOPIC = "wallet.commands.v1"


class SlowCommits:
    """The two calls the committer makes on the consumer; each commit takes 5 ms."""

    def __init__(self) -> None:
        self.commits: list[dict[TopicPartition, int]] = []

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        await asyncio.sleep(0.005)
        self.commits.append(dict(offsets))

    def highwater(self, tp: TopicPartition) -> int | None:
        return None


def a_ledger(interval_s: float) -> LedgerConsumer:
    settings = LedgerSettings(
        environment="test",
        database_url="postgresql://postgres@127.0.0.1:1/unused",
        kafka_bootstrap_servers="127.0.0.1:1",
        kafka_commit_interval_s=interval_s,
    )
    return LedgerConsumer(
        settings,
        cast(Any, None),
        cast(Any, None),
        metrics=LedgerMetrics(),
        policy=policy_of(settings),
        faults=Faults(),
    )


async def test_batches_landing_during_a_commit_wait_for_the_next_interval() -> None:
    ledger = a_ledger(interval_s=0.5)
    consumer = SlowCommits()
    tp = TopicPartition(TOPIC, 0)
    ledger._owned.add(tp)

    for offset in range(1, 601):  # a batch every millisecond or so, for about a second
        ledger._uncommitted[tp] = offset
        if ledger._committer is None or ledger._committer.done():
            ledger._committer = asyncio.create_task(ledger._commit_later(cast(Any, consumer)))
        await asyncio.sleep(0.001)
    await ledger._flush_commits(cast(Any, consumer))

    # one at once (none before), one or two a half-second later, and the flush: not one per batch
    assert 2 <= len(consumer.commits) <= 5, len(consumer.commits)
    assert consumer.commits[-1] == {tp: 600}
