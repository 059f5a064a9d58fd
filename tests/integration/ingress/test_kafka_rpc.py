"""Request-reply over a real broker: replies find their request, silence becomes a timeout."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from shared.command_auth import reply_headers
from shared.contracts.topics import COMMANDS, HEADER_CORRELATION_ID, HEADER_REPLY_TO, reply_topic
from shared.kafka import ensure_topics
from shared.kafka_rpc import KafkaRpcClient, RpcTimeout
from shared.settings import CommonSettings

pytestmark = pytest.mark.integration


async def create_topic(settings: CommonSettings, name: str, partitions: int) -> None:
    """Create the already-resolved topic ``name`` (the settings' prefix is not added again)."""
    await ensure_topics(settings.model_copy(update={"topic_prefix": ""}), {name: partitions})


class Responder:
    """A tiny stand-in for the ledger: answers each command with its value upper-cased.

    A value starting with ``slow`` is answered ``SLOW_S`` later, while the others go on.
    """

    SLOW_S = 1.0

    def __init__(self, settings: CommonSettings) -> None:
        self.settings = settings
        self.seen: list[tuple[bytes | None, dict[str, bytes]]] = []
        self.delayed: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            self.settings.topic(COMMANDS),
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            group_id=None,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=10,
        )
        producer = AIOKafkaProducer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers, linger_ms=0
        )
        await consumer.start()
        await producer.start()
        try:
            async for record in consumer:
                headers = dict(record.headers)
                self.seen.append((record.key, headers))
                reply = self._reply(producer, record.value or b"", headers)
                if (record.value or b"").startswith(b"slow"):
                    task = asyncio.create_task(self._later(reply))
                    self.delayed.add(task)
                    task.add_done_callback(self.delayed.discard)
                else:
                    await reply
        finally:
            await consumer.stop()
            await producer.stop()

    async def _reply(
        self, producer: AIOKafkaProducer, value: bytes, headers: dict[str, bytes]
    ) -> None:
        answer = value.upper()
        await producer.send_and_wait(
            headers[HEADER_REPLY_TO].decode(),
            answer,
            headers=reply_headers(
                self.settings.command_signer(),  # signs as the ledger does
                correlation_id=headers[HEADER_CORRELATION_ID],
                value=answer,
            ),
        )

    async def _later(self, reply: Coroutine[Any, Any, None]) -> None:
        await asyncio.sleep(self.SLOW_S)
        await reply


@pytest.fixture
async def settings(kafka_env: dict[str, Any]) -> CommonSettings:
    settings = CommonSettings(**kafka_env)
    await create_topic(settings, settings.topic(COMMANDS), 2)
    return settings


@pytest.fixture
async def client(settings: CommonSettings) -> AsyncIterator[KafkaRpcClient]:
    client = KafkaRpcClient(settings, request_topic=COMMANDS)
    await client.start()
    try:
        yield client
    finally:
        await client.stop()


@pytest.fixture
async def responder(settings: CommonSettings) -> AsyncIterator[Responder]:
    responder = Responder(settings)
    task = asyncio.create_task(responder.run())
    try:
        yield responder
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_answers_each_concurrent_request_with_its_own_reply(
    client: KafkaRpcClient, responder: Responder
) -> None:
    values = [f"request-{n}".encode() for n in range(50)]

    replies = await asyncio.gather(
        *(client.request(key=f"user-{n % 7}", value=v, timeout_s=10) for n, v in enumerate(values))
    )

    assert [reply.value for reply in replies] == [v.upper() for v in values]


async def test_publishes_keyed_by_user_with_correlation_and_reply_headers(
    client: KafkaRpcClient, responder: Responder
) -> None:
    reply = await client.request(key="user-42", value=b"x", timeout_s=10, correlation_id="cid-1")

    key, headers = responder.seen[-1]
    assert (reply.correlation_id, key) == ("cid-1", b"user-42")
    assert headers[HEADER_CORRELATION_ID] == b"cid-1"
    assert headers[HEADER_REPLY_TO] == client.reply_topic.encode()


async def test_times_out_when_nothing_answers(client: KafkaRpcClient) -> None:
    with pytest.raises(RpcTimeout):
        await client.request(key="user-1", value=b"x", timeout_s=0.3)

    assert (client.stats.timeouts, client.in_flight) == (1, 0)


async def test_reports_its_reply_consumer_assigned_once_started(client: KafkaRpcClient) -> None:
    assert client.reply_consumer_assigned


async def test_ignores_a_stale_reply_left_on_a_reused_reply_topic(settings: CommonSettings) -> None:
    instance = "reused-instance"
    topic = settings.topic(reply_topic(instance))
    await create_topic(settings, topic, 1)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await producer.start()
    for _ in range(3):
        await producer.send_and_wait(topic, b"stale", headers=[(HEADER_CORRELATION_ID, b"old")])
    await producer.stop()
    client = KafkaRpcClient(settings, request_topic=COMMANDS, instance_id=instance)
    await client.start()

    try:
        with pytest.raises(RpcTimeout):
            await client.request(key="u", value=b"x", timeout_s=0.5, correlation_id="old")
    finally:
        await client.stop()


async def test_moves_to_a_fresh_reply_topic_and_keeps_answering(
    settings: CommonSettings, responder: Responder
) -> None:
    client = KafkaRpcClient(settings, request_topic=COMMANDS, roll_over_after=3)
    await client.start()
    first_topic, replies = client.reply_topic, []

    try:
        for n in range(500):  # the fresh topic is created in the background: ask until it is used
            replies.append(await client.request(key="u", value=f"r{n}".encode(), timeout_s=10))
            if client.reply_topic != first_topic and len(replies) > 3:
                replies.append(await client.request(key="u", value=b"last", timeout_s=10))
                break
    finally:
        await client.stop()

    assert [reply.value for reply in replies[:-1]] == [
        f"R{n}".encode() for n in range(len(replies) - 1)
    ]
    assert replies[-1].value == b"LAST"
    assert len({headers[HEADER_REPLY_TO] for _, headers in responder.seen}) == 2


async def ask_until_rolled_over(
    client: KafkaRpcClient, times: int, timeout_s: float = 10
) -> list[bytes]:
    """Ask one request after another until the client has moved to ``times`` fresh topics."""
    topics, answers = {client.reply_topic}, []
    for n in range(500):  # each fresh topic is created in the background
        reply = await client.request(key="u", value=b"r%d" % n, timeout_s=timeout_s)
        answers.append(reply.value)
        topics.add(client.reply_topic)
        if len(topics) > times:
            return answers
    raise AssertionError(f"reply topics used: {sorted(topics)}")


async def test_rolls_over_again_before_the_old_topic_is_retired_and_loses_no_late_reply(
    settings: CommonSettings, responder: Responder
) -> None:
    client = KafkaRpcClient(settings, request_topic=COMMANDS, roll_over_after=3)
    await client.start()
    first_topic = client.reply_topic

    try:
        slow = asyncio.create_task(client.request(key="u", value=b"slow", timeout_s=30))
        answers = await ask_until_rolled_over(client, times=3)
        late = await slow
        read_while_waiting = client.reply_topics_read
    finally:
        await client.stop()

    assert answers == [b"R%d" % n for n in range(len(answers))]
    assert late.value == b"SLOW"
    assert first_topic in read_while_waiting
    assert len(read_while_waiting) >= 4


async def test_retires_an_old_reply_topic_once_its_requests_have_timed_out(
    settings: CommonSettings, responder: Responder
) -> None:
    client = KafkaRpcClient(settings, request_topic=COMMANDS, roll_over_after=3)
    await client.start()

    try:
        await ask_until_rolled_over(client, times=2, timeout_s=2)
        during = client.reply_topics_read
        await asyncio.sleep(2 + 1.5)  # the longest timeout asked for, plus the 1 s margin
        after = client.reply_topics_read
        answer = await client.request(key="u", value=b"still", timeout_s=2)
    finally:
        await client.stop()

    assert len(during) == 3
    assert after == [client.reply_topic]
    assert answer.value == b"STILL"
