"""The fallback broker still works: a ledger round trip on Tansu, for machines without Java.

Everything else in the suite runs on Apache Kafka; this module keeps the Tansu path (its broker
profile: no idempotent producer, short fetch waits, replies by high watermark) from rotting.
With ``HYPELEDGER_INFRA_BROKER=tansu`` the whole suite runs on Tansu instead.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from ledger_harness import Ledger, ledger_harness, unique, webhook

from shared.contracts.commands import WebhookKind
from shared.infra.broker import start_tansu
from shared.infra.processes import ServerProcess, stop_group
from shared.infra.reaper import Reaper
from shared.settings import BrokerFlavour

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def tansu_ledger(common_env: dict[str, Any], db_pool: asyncpg.Pool) -> AsyncIterator[Ledger]:
    reaper = Reaper()
    servers: list[ServerProcess] = []

    def spawned(server: ServerProcess) -> None:
        servers.append(server)
        reaper.watch(server.pgid, server.stop_signal)

    try:
        with tempfile.TemporaryDirectory() as run_dir:
            bootstrap = await start_tansu(Path(run_dir), on_spawn=spawned)
            env = {**common_env, "kafka_bootstrap_servers": bootstrap}
            env["kafka_flavour"] = BrokerFlavour.TANSU
            try:
                async with ledger_harness(env, db_pool) as harness:
                    yield harness
            finally:
                for server in servers:
                    await asyncio.to_thread(stop_group, server.pgid, server.stop_signal)
                    reaper.forget(server.pgid)
    finally:
        await asyncio.to_thread(reaper.close)


async def test_a_bet_is_debited_once_and_its_retry_gets_the_same_bytes(
    tansu_ledger: Ledger,
) -> None:
    assert tansu_ledger.settings.kafka_idempotence is False
    user = await tansu_ledger.player("100.00")
    bet = webhook(WebhookKind.BET, user, unique("b"), "10.00")

    first = await tansu_ledger.send(bet)
    again = await tansu_ledger.send(bet)

    assert first.status == 200
    assert first.json["new_balance"] == "90.00"
    assert again.body == first.body
    assert await tansu_ledger.balance(user) == 90_00
