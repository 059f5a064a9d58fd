"""Kafka clients built from settings, and explicit topic creation.

Every producer and consumer of hypeledger comes from here, with the broker-dependent defaults of
``settings.broker_profile`` (the idempotent producer on Apache Kafka, not on Tansu; the fetch
wait), ``acks=all`` and the group timeouts from settings. Topics are created
explicitly with their partition counts (auto-created topics get one partition), and topic names
are always the contract names resolved through ``settings.topic``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code
from aiokafka.helpers import create_ssl_context
from aiokafka.partitioner import DefaultPartitioner

from shared.logs import get_logger
from shared.settings import CommonSettings

_log = get_logger("hypeledger.kafka")

#: Metadata of a just-created topic can lag behind the create answer; wait at most this long.
TOPIC_VISIBLE_WITHIN_S = 10.0


class TopicMismatch(RuntimeError):
    """A topic exists with fewer partitions than asked for (partitions cannot be added here)."""


def connection_options(settings: CommonSettings) -> dict[str, Any]:
    """Where the brokers are and how to reach them: TLS and SASL as the settings say.

    Managed Kafka services commonly require ``SASL_SSL``; local brokers use ``PLAINTEXT``.
    """
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = create_ssl_context(cafile=settings.kafka_ssl_cafile)
    if settings.kafka_security_protocol.startswith("SASL_"):
        password = settings.kafka_sasl_password
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = None if password is None else password.get_secret_value()
    return options


_HASHED = DefaultPartitioner()
#: Keys of topics with several partitions (players, on the command and event topics) and the
#: partition index they hash to, by partition count: each player's key is hashed once, not per
#: record. Cleared whole when full.
_BY_KEY: dict[tuple[bytes, int], int] = {}
_BY_KEY_LIMIT = 100_000


def partition_of(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """The partition aiokafka's ``DefaultPartitioner`` picks, with its pure-Python murmur2 run
    once per key and partition count (``_BY_KEY``), and not at all when the topic has one
    partition (every reply topic, where each reply's correlation id is a key of its own)."""
    if len(all_partitions) == 1:
        return all_partitions[0]
    if key is None:
        random_pick: int = _HASHED(key, all_partitions, available)
        return random_pick
    known = (key, len(all_partitions))
    index = _BY_KEY.get(known)
    if index is None:
        if len(_BY_KEY) >= _BY_KEY_LIMIT:
            _BY_KEY.clear()
        hashed: int = _HASHED(key, all_partitions, available)
        index = _BY_KEY[known] = all_partitions.index(hashed)
    return all_partitions[index]


def producer_options(settings: CommonSettings) -> dict[str, Any]:
    """``AIOKafkaProducer`` options: ``acks=all``, idempotent on real Kafka, no lingering unless
    ``kafka_linger_ms`` says so, and ``partition_of``."""
    return connection_options(settings) | {
        "acks": "all",
        "enable_idempotence": settings.kafka_idempotence,
        "linger_ms": settings.kafka_linger_ms,
        "partitioner": partition_of,
    }


def producer(settings: CommonSettings, **overrides: Any) -> AIOKafkaProducer:
    """An (unstarted) producer with ``producer_options``; ``overrides`` win."""
    return AIOKafkaProducer(**(producer_options(settings) | overrides))


def consumer_options(settings: CommonSettings, group_id: str | None) -> dict[str, Any]:
    """``AIOKafkaConsumer`` options: manual commits, from the earliest, timings from settings.

    A consumer without a position starts from the earliest record: the ledger must never skip a
    command (it seeks to the offsets stored in Postgres anyway), and request-reply clients seek to
    the end of their reply topic themselves.
    """
    return connection_options(settings) | {
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "fetch_max_wait_ms": settings.fetch_max_wait_ms,
        "fetch_min_bytes": settings.kafka_fetch_min_bytes,
        "session_timeout_ms": settings.kafka_session_timeout_ms,
        "heartbeat_interval_ms": settings.kafka_heartbeat_interval_ms,
    }


def consumer(
    settings: CommonSettings, *topics: str, group_id: str | None, **overrides: Any
) -> AIOKafkaConsumer:
    """An (unstarted) consumer of already-resolved ``topics`` with ``consumer_options``."""
    return AIOKafkaConsumer(*topics, **(consumer_options(settings, group_id) | overrides))


#: How long stopping a client may take when the broker does not answer.
STOP_WITHIN_S = 5.0


async def stop_client(
    client: AIOKafkaConsumer | AIOKafkaProducer, *, within_s: float = STOP_WITHIN_S
) -> None:
    """Stop a consumer or producer, in bounded time even when the broker is gone.

    aiokafka's ``AIOKafkaConsumer.stop()`` raises ``CancelledError`` when a fetch was backing off
    after a connection error (its fetcher awaits the task it just cancelled), and a producer's
    stop waits up to its request timeout to flush. Either would turn a clean shutdown into a
    crash or a hang; what is left unsent is the caller's to make safe (the ledger's offsets are
    in Postgres, its replies are answered again on redelivery).
    """
    task = asyncio.current_task()
    try:
        async with asyncio.timeout(within_s):
            await client.stop()
    except TimeoutError:
        _log.warning("kafka.stop.timed_out", client=type(client).__name__, within_s=within_s)
    except asyncio.CancelledError:
        if task is not None and task.cancelling():
            raise  # we are being cancelled ourselves
        _log.warning("kafka.stop.interrupted", client=type(client).__name__)


def admin(settings: CommonSettings, **overrides: Any) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(**(connection_options(settings) | overrides))


async def topics_starting_with(settings: CommonSettings, prefix: str) -> list[str]:
    """The names of the broker's topics that start with ``prefix`` (a resolved name), sorted."""
    client = admin(settings)
    await client.start()
    try:
        return sorted(name for name in await client.list_topics() if name.startswith(prefix))
    finally:
        await client.close()


async def delete_topics(settings: CommonSettings, names: Sequence[str]) -> None:
    """Delete the topics ``names`` (resolved names); nothing to do for none."""
    if not names:
        return
    client = admin(settings)
    await client.start()
    try:
        await client.delete_topics(list(names))
    finally:
        await client.close()


async def ensure_topics(
    settings: CommonSettings, partitions: Mapping[str, int], *, replication_factor: int = 1
) -> dict[str, int]:
    """Create the contract topics ``{name: partitions}`` (resolved via ``settings.topic``).

    Existing topics are fine if they have at least the partitions asked for; fewer is
    ``TopicMismatch`` (adding partitions would move keys between partitions). Returns the
    resolved names with their partition counts once every topic is visible in the metadata.
    """
    wanted = {settings.topic(name): count for name, count in partitions.items()}
    client = admin(settings)
    await client.start()
    try:
        existing = set(await client.list_topics())
        missing = [
            NewTopic(name, count, replication_factor)
            for name, count in wanted.items()
            if name not in existing
        ]
        if missing:
            response = await client.create_topics(missing)
            for topic, code, *_ in response.topic_errors:
                error = for_code(code)
                if code != 0 and error is not TopicAlreadyExistsError:
                    raise error(f"cannot create topic {topic}")
        counts = await _visible(client, list(wanted))
    finally:
        await client.close()
    for name, count in wanted.items():
        if counts[name] < count:
            raise TopicMismatch(f"topic {name} has {counts[name]} partitions, {count} wanted")
    return counts


async def partition_count(settings: CommonSettings, topic: str) -> int:
    """How many partitions ``topic`` (a resolved name) has; 0 when it does not exist.

    Asked of the broker directly: a consumer's own metadata covers only the topics it already
    follows (Apache Kafka answers a metadata request for no topics with no topics).
    """
    client = admin(settings)
    await client.start()
    try:
        described = await client.describe_topics([topic])
    finally:
        await client.close()
    return sum(len(t["partitions"]) for t in described if t["error_code"] == 0)


async def _visible(client: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    deadline = time.monotonic() + TOPIC_VISIBLE_WITHIN_S
    while True:
        described = await client.describe_topics(names)
        counts = {
            topic["topic"]: len(topic["partitions"])
            for topic in described
            if topic["error_code"] == 0 and topic["partitions"]
        }
        if len(counts) == len(names) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    absent = [name for name in names if name not in counts]
    if absent:
        raise TopicMismatch(f"topics not visible after creation: {', '.join(absent)}")
    return counts
