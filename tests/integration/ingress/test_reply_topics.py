"""Reply topics left behind are found and deleted on a real broker; a running client's topic is
kept by its heartbeat, and its reader does not count heartbeats as late replies."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from services.cli.conventions import ExitCode
from shared import kafka
from shared.contracts.topics import COMMANDS, reply_topic
from shared.kafka import ensure_topics
from shared.kafka_rpc import KafkaRpcClient
from shared.reply_topics import prune
from shared.settings import CommonSettings

pytestmark = pytest.mark.integration

HYPELEDGER = str(Path(sys.executable).with_name("hypeledger"))
IDLE = timedelta(minutes=60)


async def topic_names(settings: CommonSettings) -> set[str]:
    return set(await kafka.topics_starting_with(settings, settings.topic("")))


async def left_behind(settings: CommonSettings, instance: str, written_at: datetime) -> str:
    """A reply topic whose last record was written at ``written_at``, as a stopped client's."""
    await ensure_topics(settings, {reply_topic(instance): 1})
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(
            settings.topic(reply_topic(instance)),
            b"{}",
            timestamp_ms=int(written_at.timestamp() * 1000),
        )
    finally:
        await producer.stop()
    return settings.topic(reply_topic(instance))


async def running_client(settings: CommonSettings, instance: str) -> KafkaRpcClient:
    await ensure_topics(settings, {COMMANDS: 1})
    client = KafkaRpcClient(settings, request_topic=COMMANDS, instance_id=instance)
    await client.start()
    return client


async def test_prunes_only_the_reply_topics_idle_past_the_window(kafka_env: dict[str, Any]) -> None:
    settings = CommonSettings(**kafka_env)
    now = datetime.now(UTC)
    gone = await left_behind(settings, "gone-pod-1", now - timedelta(hours=3))
    recent = await left_behind(settings, "recent-pod-1", now - timedelta(minutes=5))
    await ensure_topics(settings, {reply_topic("just-created-1"): 1})
    client = await running_client(settings, "live-pod-1")
    try:
        deleted = await prune(settings, now=now + timedelta(minutes=1), idle=IDLE)
        remaining = await topic_names(settings)
    finally:
        await client.stop()

    assert deleted == [gone]
    assert gone not in remaining
    assert {
        recent,
        client.reply_topic,
        settings.topic(reply_topic("just-created-1")),
    } <= remaining


async def test_a_dry_run_deletes_nothing(kafka_env: dict[str, Any]) -> None:
    settings = CommonSettings(**kafka_env)
    now = datetime.now(UTC)
    gone = await left_behind(settings, "gone-pod-2", now - timedelta(hours=3))

    listed = await prune(settings, now=now, idle=IDLE, dry_run=True)

    assert listed == [gone]
    assert gone in await topic_names(settings)


async def test_a_running_client_writes_heartbeats_it_does_not_count_as_late_replies(
    kafka_env: dict[str, Any],
) -> None:
    settings = CommonSettings(**kafka_env)
    client = await running_client(settings, "beating-pod-1")
    try:
        async with asyncio.timeout(30):
            while True:
                (topic,) = await _topics_named(settings, client.reply_topic)
                if topic.written_since:
                    break
                await asyncio.sleep(0.1)
        await asyncio.sleep(1.5)  # the reader has fetched the heartbeat by now
        unmatched = client.stats.unmatched_replies
    finally:
        await client.stop()

    assert unmatched == 0


async def _topics_named(settings: CommonSettings, name: str) -> list[Any]:
    from shared.reply_topics import reply_topics  # noqa: PLC0415

    cutoff = datetime.now(UTC) - timedelta(minutes=1)
    return [t for t in await reply_topics(settings, cutoff=cutoff) if t.name == name]


async def test_the_prune_command_deletes_and_reports_them(kafka_env: dict[str, Any]) -> None:
    settings = CommonSettings(**kafka_env)
    gone = await left_behind(settings, "gone-pod-3", datetime.now(UTC) - timedelta(hours=3))
    env = {
        **os.environ,
        "HYPELEDGER_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "HYPELEDGER_TOPIC_PREFIX": settings.topic_prefix,
    }

    process = await asyncio.create_subprocess_exec(
        HYPELEDGER,
        "reply-topics",
        "prune",
        "--idle-minutes",
        "60",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        out, err = await process.communicate()

    assert process.returncode == ExitCode.OK, err.decode()[-2000:]
    assert f"deleted {gone}" in out.decode()
    assert gone not in await topic_names(settings)
