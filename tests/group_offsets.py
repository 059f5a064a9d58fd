"""A consumer group's offsets as Kafka's own APIs report them (what its lag tools read)."""

from __future__ import annotations

from aiokafka import TopicPartition

from shared import kafka
from shared.contracts.topics import COMMANDS
from shared.settings import CommonSettings


async def group_offsets(
    settings: CommonSettings, group: str, partitions: int, topic: str = COMMANDS
) -> tuple[dict[int, int], dict[int, int]]:
    """The group's committed offsets (0, the log's start, where it committed none) and the
    topic's end offsets, by partition."""
    full_name = settings.topic(topic)
    tps = [TopicPartition(full_name, p) for p in range(partitions)]
    admin = kafka.admin(settings)
    consumer = kafka.consumer(settings, group_id=None)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group, partitions=tps)
        ends = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
        await admin.close()
    return (
        {tp.partition: max(committed[tp].offset, 0) if tp in committed else 0 for tp in tps},
        {tp.partition: ends[tp] for tp in tps},
    )
