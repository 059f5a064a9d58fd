"""How the ledger takes a backlog from the broker: a share of every partition at once.

One ``getmany(max_records=N)`` fills N from the first partitions it finds; with a backlog that
left most partitions idle while one or two were applied. ``LedgerConsumer._top_up`` asks every
other assigned partition for its own share, so each partition's transaction runs concurrently.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from ledger_harness import ledger_settings

from services.ledger.consumer import LedgerConsumer, command_consumer
from shared.contracts.topics import COMMANDS
from shared.kafka import consumer, producer

PARTITIONS = 3
PER_PARTITION = 40
SHARE = 10


async def buffered(reader: AIOKafkaConsumer, tps: list[TopicPartition]) -> None:
    """Until a fetch response has arrived (and been buffered) for every partition."""
    for tp in tps:
        while reader.highwater(tp) is None:  # noqa: ASYNC110 - aiokafka offers no event for it
            await asyncio.sleep(0.05)


async def test_a_backlog_is_taken_from_every_partition_at_most_a_share_each(
    common_env: dict[str, Any], create_topics: Any
) -> None:
    settings = ledger_settings(common_env)
    topic = settings.topic(COMMANDS)
    await create_topics(settings, {COMMANDS: PARTITIONS})
    kafka = producer(settings)
    await kafka.start()
    try:
        for partition in range(PARTITIONS):
            for index in range(PER_PARTITION):
                await kafka.send(topic, f"{partition}-{index}".encode(), partition=partition)
        await kafka.flush()
    finally:
        await kafka.stop()

    tps = [TopicPartition(topic, partition) for partition in range(PARTITIONS)]
    reader = consumer(settings, group_id=None)
    await reader.start()
    try:
        reader.assign(tps)
        for tp in tps:
            await reader.seek_to_beginning(tp)
        async with asyncio.timeout(15):
            await buffered(reader, tps)

        batches = await reader.getmany(timeout_ms=1000, max_records=SHARE)
        alone = dict(batches)
        batches.update(await LedgerConsumer._top_up(reader, batches, SHARE))
    finally:
        await reader.stop()

    assert len(alone) == 1  # what one getmany gives: a single partition's share
    assert sorted(tp.partition for tp in batches) == list(range(PARTITIONS))
    for tp, records in batches.items():
        assert [record.offset for record in records] == list(range(SHARE))
        assert records[0].value == f"{tp.partition}-0".encode()


async def test_a_fetch_brings_at_most_the_configured_bytes(
    common_env: dict[str, Any], create_topics: Any
) -> None:
    """A backlog does not arrive whole: the ledger holds one bounded fetch, not the topic."""
    limit = 64 * 1024
    record = b"x" * 1024
    settings = ledger_settings(common_env, kafka_fetch_max_bytes=limit)
    topic = settings.topic(COMMANDS)
    await create_topics(settings, {COMMANDS: 1})
    kafka = producer(settings)
    await kafka.start()
    try:
        for _ in range(1000):  # about 1 MB, sixteen times the limit
            await kafka.send(topic, record, partition=0)
        await kafka.flush()
    finally:
        await kafka.stop()

    tp = TopicPartition(topic, 0)
    reader = command_consumer(settings, group_id=None)
    await reader.start()
    try:
        reader.assign([tp])
        await reader.seek_to_beginning(tp)
        async with asyncio.timeout(15):
            await buffered(reader, [tp])
            first = (await reader.getmany(tp, timeout_ms=0, max_records=10_000)).get(tp, [])
            everything = list(first)
            while len(everything) < 1000:
                more = await reader.getmany(tp, timeout_ms=1000, max_records=10_000)
                everything.extend(more.get(tp, []))
    finally:
        await reader.stop()

    assert 0 < len(first) * len(record) <= 2 * limit  # one bounded fetch (a batch may cross it)
    assert [r.offset for r in everything] == list(range(1000))  # and nothing is lost over many
