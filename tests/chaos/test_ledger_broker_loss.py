"""A ledger process asked to stop while its broker is gone still stops, promptly and cleanly.

Postgres holds the offsets that count, so the last Kafka offset commit and the last replies are
best effort at shutdown: they must not hold the process until the orchestrator kills it.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from ledger_processes import (
    Replies,
    build_load,
    chaos_settings,
    create_topics,
    start_ledger,
    wait_all_applied,
)

from shared.settings import BrokerFlavour
from tests.own_kafka import own_kafka

pytestmark = pytest.mark.chaos

#: What the test allows a stop without a broker (the ledger's own bound is lower).
STOP_WITHIN_S = 20.0


async def test_stops_cleanly_when_the_broker_is_gone(
    common_env: dict[str, Any], db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    async with own_kafka(tmp_path / "kafka") as broker:
        settings = chaos_settings(
            {
                **common_env,
                "kafka_bootstrap_servers": broker.bootstrap,
                "kafka_flavour": BrokerFlavour.KAFKA,
            }
        )
        await create_topics(settings)
        load = build_load(players=4, bets=5)
        ledger = start_ledger(settings, tmp_path)
        try:
            await ledger.ready()
            async with Replies(settings) as replies:
                sent = await replies.publish(load.commands)
                await replies.wait_for(sent)
            await wait_all_applied(db_pool, settings, len(load.commands))

            await broker.kill()
            started = time.monotonic()
            ledger.process.send_signal(signal.SIGTERM)
            code = await ledger.exited(within_s=STOP_WITHIN_S)
            took = time.monotonic() - started
        finally:
            ledger.kill()

    log = ledger.log.read_text()
    assert code == 0, log[-3000:]
    assert '"ledger.stopped"' in log, log[-3000:]
    assert took < STOP_WITHIN_S
