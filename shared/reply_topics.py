"""Finding and deleting the reply topics nobody uses any more.

Every request-reply client owns a reply topic named after its instance (the pod name and process
id in Kubernetes), so each pod and each restart leaves one behind. A running client writes a
heartbeat to its topic every ``REPLY_HEARTBEAT_S`` (``shared/kafka_rpc.py``): a reply topic that
has held records but has none newer than the idle window belongs to no running client. A topic
that never held a record is kept (it may have been created a moment ago, before its first
heartbeat).

Needs a broker that answers offsets-for-times (Apache Kafka; not Tansu).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from aiokafka import TopicPartition

from shared import kafka
from shared.contracts.topics import REPLY_PREFIX
from shared.kafka import stop_client
from shared.settings import CommonSettings


@dataclass(frozen=True, slots=True)
class ReplyTopic:
    name: str
    ever_written: bool
    """Some record was appended to it at some time (its end offset is above 0)."""
    written_since: bool
    """A record at or after the cutoff is still in it."""

    @property
    def stale(self) -> bool:
        return self.ever_written and not self.written_since


async def reply_topics(settings: CommonSettings, *, cutoff: datetime) -> list[ReplyTopic]:
    """Every reply topic under ``settings``'s prefix, with what the broker knows of its age."""
    prefix = settings.topic(REPLY_PREFIX)
    client = kafka.admin(settings)
    await client.start()
    try:
        names = sorted(name for name in await client.list_topics() if name.startswith(prefix))
        described = await client.describe_topics(names) if names else []
    finally:
        await client.close()
    partitions = [
        TopicPartition(topic["topic"], partition["partition"])
        for topic in described
        if topic["error_code"] == 0
        for partition in topic["partitions"]
    ]
    if not partitions:
        return []
    consumer = kafka.consumer(settings, group_id=None, client_id="hypeledger-reply-topics")
    await consumer.start()
    try:
        ends = await consumer.end_offsets(partitions)
        since = await consumer.offsets_for_times(
            {tp: int(cutoff.timestamp() * 1000) for tp in partitions}
        )
    finally:
        await stop_client(consumer)
    return [
        ReplyTopic(
            name=name,
            ever_written=any(ends[tp] > 0 for tp in partitions if tp.topic == name),
            written_since=any(since[tp] is not None for tp in partitions if tp.topic == name),
        )
        for name in sorted({tp.topic for tp in partitions})
    ]


async def prune(
    settings: CommonSettings, *, now: datetime, idle: timedelta, dry_run: bool = False
) -> list[str]:
    """Delete the stale reply topics (those idle for ``idle``); return their names."""
    stale = [t.name for t in await reply_topics(settings, cutoff=now - idle) if t.stale]
    if stale and not dry_run:
        client = kafka.admin(settings)
        await client.start()
        try:
            await client.delete_topics(stale)
        finally:
            await client.close()
    return stale
