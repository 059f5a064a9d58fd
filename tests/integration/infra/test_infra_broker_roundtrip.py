"""Messages through the real broker: produce, consume in a group, commit, resume after a restart."""

from __future__ import annotations

from typing import Any

from aiokafka import TopicPartition

from shared.kafka import consumer, producer
from shared.settings import CommonSettings
from tests.conftest import CreateTopics

TOPIC = "roundtrip.v1"


async def _consume(settings: CommonSettings, group: str, count: int) -> list[bytes]:
    """Read ``count`` records in ``group``, commit them, stop (bounded by a deadline)."""
    client = consumer(settings, settings.topic(TOPIC), group_id=group)
    await client.start()
    try:
        seen: list[bytes] = []
        for _ in range(200):
            batches = await client.getmany(timeout_ms=100, max_records=count - len(seen))
            for records in batches.values():
                seen.extend(record.value for record in records)
            if len(seen) >= count:
                break
        await client.commit()
        return seen
    finally:
        await client.stop()


async def _produce(settings: CommonSettings, values: list[bytes]) -> None:
    client = producer(settings)
    await client.start()
    try:
        for value in values:
            await client.send_and_wait(settings.topic(TOPIC), value, key=b"player-1")
    finally:
        await client.stop()


async def test_consumer_resumes_from_its_committed_offset_after_a_restart(
    common_env: dict[str, Any], topic_prefix: str, create_topics: CreateTopics
) -> None:
    settings = CommonSettings(**common_env, topic_prefix=topic_prefix)
    await create_topics(settings, {TOPIC: 2})
    group = f"{topic_prefix}group"
    await _produce(settings, [b"m0", b"m1", b"m2"])
    first = await _consume(settings, group, 3)
    await _produce(settings, [b"m3", b"m4"])

    second = await _consume(settings, group, 2)

    assert first == [b"m0", b"m1", b"m2"]
    assert second == [b"m3", b"m4"]


async def test_committed_offset_of_a_group_is_stored_on_the_broker(
    common_env: dict[str, Any], topic_prefix: str, create_topics: CreateTopics
) -> None:
    settings = CommonSettings(**common_env, topic_prefix=topic_prefix)
    await create_topics(settings, {TOPIC: 1})
    group = f"{topic_prefix}group"
    await _produce(settings, [b"a", b"b"])
    await _consume(settings, group, 2)
    probe = consumer(settings, group_id=group)
    await probe.start()

    try:
        committed = await probe.committed(TopicPartition(settings.topic(TOPIC), 0))
    finally:
        await probe.stop()

    assert committed == 2
