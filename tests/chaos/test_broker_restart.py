"""Apache Kafka SIGKILLed under load and restarted on the same log: nothing lost, nothing twice.

A real ingress and a real ledger (with its outbox relay) run as processes against a broker of the
test's own. Hypetech's side is played by a sender that retries every bet until it is answered 200,
as Hypetech retries a webhook that timed out or failed. Half-way, the broker is SIGKILLed and
restarted a few seconds later on the same log directory and ports. While it is down the ingress
answers 503 ``ledger-unavailable``; afterwards every service recovers by itself, every bet is
applied exactly once, every retry of an answered bet gets the same bytes, every outbox event is
published, and the audit is clean.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import TopicPartition
from ledger_processes import (
    Replies,
    build_load,
    chaos_settings,
    create_topics,
    start_ingress,
    start_ledger,
    until,
    wait_ready,
)

from services.ingress.signature import sign
from services.ledger.audit import audit
from services.ledger.settings import LedgerSettings
from shared.contracts.topics import COMMANDS
from shared.db.databases import migrated_database
from shared.infra.processes import free_port, tail
from shared.infra.stack import Stack
from shared.kafka import consumer as kafka_consumer
from shared.kafka import ensure_topics
from shared.kafka import producer as kafka_producer
from shared.settings import BrokerFlavour
from tests.conftest import unique_database_name
from tests.own_kafka import OwnKafka, own_kafka

pytestmark = pytest.mark.chaos

HYPELEDGER = str(Path(sys.executable).with_name("hypeledger"))
API_KEY = "k-broker-restart-0123456789abcdef"
BET = "/webhooks/hypetech/bet"
PLAYERS = 4
BETS = 60
#: How long the broker stays down.
DOWN_S = 3.0


def ingress_env(settings: LedgerSettings, port: int) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("HYPELEDGER_")},
        "HYPELEDGER_ENVIRONMENT": "test",
        "HYPELEDGER_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "HYPELEDGER_KAFKA_FLAVOUR": "kafka",
        "HYPELEDGER_TOPIC_PREFIX": settings.topic_prefix,
        "HYPELEDGER_PORT": str(port),
        "HYPELEDGER_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "HYPELEDGER_HYPETECH_API_KEYS": API_KEY,
        "HYPELEDGER_LEDGER_TIMEOUT_S": "2",
        "HYPELEDGER_LOG_FORMAT": "json",
    }


class Hypetech:
    """Sends each bet until it is answered 200, keeping every answer it got."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.answers: dict[str, list[tuple[int, bytes]]] = {}
        self.sent = 0

    async def bet(self, http: httpx.AsyncClient, user: str, index: int) -> None:
        tx = f"{user}-b{index}"
        body = (
            f'{{"user_id":"{user}","currency":"USD","amount":1,"provider":"hypetech",'
            f'"provider_tx_id":"{tx}","round_id":"{user}-r{index}","session_token":"s"}}'
        ).encode()
        headers = {
            "Hype-Hash": sign(API_KEY.encode(), self.base_url + BET, body),
            "Content-Type": "application/json",
        }
        answers = self.answers.setdefault(tx, [])
        while not any(status == 200 for status, _ in answers):
            try:
                answer = await http.post(BET, content=body, headers=headers)
                answers.append((answer.status_code, answer.content))
            except httpx.HTTPError:
                answers.append((0, b""))
            if answers[-1][0] != 200:
                await asyncio.sleep(0.2)
        # one more delivery of an answered bet, as Hypetech's duplicate: the same bytes again
        if index % 5 == 0:
            answer = await http.post(BET, content=body, headers=headers)
            answers.append((answer.status_code, answer.content))
        self.sent += 1


async def create_players(settings: LedgerSettings) -> list[str]:
    """Accounts with 100.00 each, through the command topic."""
    accounts = build_load(players=PLAYERS, bets=0)
    async with Replies(settings) as replies:
        await replies.wait_for(await replies.publish(accounts.commands))
    return accounts.players


async def play(
    broker: OwnKafka, settings: LedgerSettings, players: list[str], tmp_path: Path
) -> tuple[Hypetech, Counter[str]]:
    """Bets from every player; the broker is killed after a third and restarted later."""
    port = free_port()
    log = tmp_path / "ingress.log"
    ingress = start_ingress(ingress_env(settings, port), log)
    try:
        await wait_ready(ingress, f"http://127.0.0.1:{port}/readyz", log)
        hypetech = Hypetech(f"http://127.0.0.1:{port}")
        limits = httpx.Limits(max_connections=PLAYERS)
        async with httpx.AsyncClient(
            base_url=hypetech.base_url, timeout=10.0, limits=limits
        ) as http:

            async def player(user: str) -> None:
                for index in range(BETS):
                    await hypetech.bet(http, user, index)

            async def fault() -> None:
                await until(_answered(hypetech, PLAYERS * BETS // 3), within_s=120)
                await broker.kill()
                await asyncio.sleep(DOWN_S)
                await broker.restart()

            await asyncio.gather(fault(), *(player(user) for user in players))
        problems = Counter(
            _problem_type(body)
            for answers in hypetech.answers.values()
            for status, body in answers
            if status == 503
        )
        return hypetech, problems
    finally:
        ingress.terminate()
        ingress.wait(timeout=30)


def _answered(hypetech: Hypetech, count: int) -> Any:
    async def check() -> bool:
        return hypetech.sent >= count

    return check


def _problem_type(body: bytes) -> str:
    text = body.decode(errors="replace")
    return text.split('"type":"', 1)[-1].split('"', 1)[0].rsplit("/", 1)[-1]


async def test_broker_killed_under_load_loses_nothing_and_applies_nothing_twice(
    infra: Stack, common_env: dict[str, Any], tmp_path: Path
) -> None:
    async with (
        migrated_database(infra.database_admin_url, unique_database_name("broker")) as dsn,
        own_kafka(tmp_path / "kafka") as broker,
    ):
        settings = chaos_settings(
            {
                **common_env,
                "database_url": dsn,
                "kafka_bootstrap_servers": broker.bootstrap,
                "kafka_flavour": BrokerFlavour.KAFKA,
            }
        )
        await create_topics(settings)
        ledger = start_ledger(settings, tmp_path)
        try:
            await ledger.ready()
            players = await create_players(settings)
            hypetech, problems = await play(broker, settings, players, tmp_path)
            pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
            try:
                await until(_outbox_published(pool), within_s=60)
                await _check(pool, hypetech, players)
            finally:
                await pool.close()
            assert ledger.process.poll() is None, tail(ledger.log, 60)
        finally:
            ledger.terminate()

    # the outage was seen, as 503 ledger-unavailable and nothing else
    assert problems, "no webhook met the outage"
    assert set(problems) == {"ledger-unavailable"}, problems


def _outbox_published(pool: asyncpg.Pool) -> Any:
    async def check() -> bool:
        left = await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        return bool(left == 0)

    return check


async def _check(pool: asyncpg.Pool, hypetech: Hypetech, players: list[str]) -> None:
    # every bet answered 200, and every 200 for a bet carries the same bytes
    for tx, answers in hypetech.answers.items():
        bodies = {body for status, body in answers if status == 200}
        assert len(bodies) == 1, (tx, answers)
        assert all(status in (0, 200, 503) for status, _ in answers), (tx, answers)
    # exactly once: one decision and one debit per bet
    bets = await pool.fetchval("SELECT count(*) FROM decisions WHERE kind = 'bet'")
    assert bets == PLAYERS * BETS
    balances = await pool.fetch("SELECT user_id, balance FROM accounts")
    assert {row["user_id"]: row["balance"] for row in balances} == dict.fromkeys(
        players, 100_00 - BETS * 1_00
    )
    async with pool.acquire() as conn:
        report = await audit(conn, limit=5)
    assert report.clean, report.violations


async def test_idempotent_producer_retries_across_a_broker_restart_without_duplicates(
    common_env: dict[str, Any], tmp_path: Path
) -> None:
    """Records in flight when the broker is SIGKILLed are retried by the producer once it is
    back on its log: every send succeeds, and the broker's producer-id and sequence check (the
    idempotent producer, on for Apache Kafka) keeps each record written once, in order, even one
    whose first attempt was written but not acknowledged."""
    records = 3000
    async with own_kafka(tmp_path / "kafka") as broker:
        settings = LedgerSettings(
            **{
                **common_env,
                "kafka_bootstrap_servers": broker.bootstrap,
                "kafka_flavour": BrokerFlavour.KAFKA,
            },
            topic_prefix=f"idem{uuid.uuid4().hex[:6]}.",
        )
        assert settings.kafka_idempotence
        await ensure_topics(settings, {COMMANDS: 1})
        sender = kafka_producer(settings, request_timeout_ms=60_000)
        await sender.start()
        acked: list[int] = []
        failed: list[int] = []
        try:

            async def send_all() -> None:
                for number in range(records):
                    future = await sender.send(
                        settings.topic(COMMANDS), str(number).encode(), key=b"player"
                    )
                    future.add_done_callback(
                        lambda f, n=number: (failed if f.exception() else acked).append(n)
                    )
                    if number % 100 == 0:
                        await asyncio.sleep(0.01)  # keep records in flight across the kill
                await sender.flush()

            sending = asyncio.create_task(send_all())
            await until(_count_at_least(acked, records // 3), within_s=60)
            await broker.kill()
            in_flight_at_kill = records - len(acked)
            await asyncio.sleep(2.0)
            await broker.restart()
            await asyncio.wait_for(sending, timeout=120)
        finally:
            await sender.stop()

        values = await _read_all(settings, records)

    assert in_flight_at_kill > 0, "the broker died with no record in flight"
    assert failed == []
    assert [int(v) for v in values] == list(range(records))  # each exactly once, in order


def _count_at_least(items: list[int], count: int) -> Any:
    async def check() -> bool:
        return len(items) >= count

    return check


async def _read_all(settings: LedgerSettings, expected: int) -> list[bytes]:
    """Every record of the topic's one partition, from the start to its end offset."""
    reader = kafka_consumer(settings, group_id=None)
    await reader.start()
    try:
        partition = TopicPartition(settings.topic(COMMANDS), 0)
        reader.assign([partition])
        await reader.seek_to_beginning(partition)
        end = (await reader.end_offsets([partition]))[partition]
        values: list[bytes] = []
        while await reader.position(partition) < end:
            batches = await reader.getmany(partition, timeout_ms=1000)
            values += [record.value or b"" for record in batches.get(partition, [])]
    finally:
        await reader.stop()
    assert end >= expected
    return values
