"""An ingress process asked to stop while its broker is gone still stops, promptly and cleanly.

Nothing the ingress holds outlives it (it has no state: a request in flight without a broker is
answered 503), so stopping must not wait for a broker that will not answer. Uvicorn re-raises
the signal after its graceful shutdown, so a clean stop on SIGTERM ends with that signal's
status (143 in a shell), with or without a broker; the log shows the shutdown ran to its end.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ledger_processes import start_ingress, wait_ready

from shared.infra.processes import free_port, tail
from tests.own_kafka import OwnKafka, own_kafka

pytestmark = pytest.mark.chaos

HYPELEDGER = str(Path(sys.executable).with_name("hypeledger"))
#: What the test allows a stop without a broker (the request-reply client's own bound is lower).
STOP_WITHIN_S = 20.0


async def exit_code(process: subprocess.Popen[bytes], within_s: float) -> int | None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return process.returncode
        await asyncio.sleep(0.1)
    return None


async def test_stops_cleanly_when_the_broker_is_gone(tmp_path: Path) -> None:
    async with own_kafka(tmp_path / "kafka") as broker:
        code, took = await _stop_after_broker_loss(broker, tmp_path)

    output = tail(tmp_path / "ingress.log", 200)
    assert code == -signal.SIGTERM, output
    assert took < STOP_WITHIN_S
    assert '"rpc.stopped"' in output, output
    assert "Traceback" not in output, output


async def _stop_after_broker_loss(broker: OwnKafka, tmp_path: Path) -> tuple[int | None, float]:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HYPELEDGER_")},
        "HYPELEDGER_ENVIRONMENT": "test",
        "HYPELEDGER_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
        "HYPELEDGER_KAFKA_FLAVOUR": "kafka",
        "HYPELEDGER_TOPIC_PREFIX": "ingress-loss.",
        "HYPELEDGER_PORT": str(port),
        "HYPELEDGER_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "HYPELEDGER_HYPETECH_API_KEYS": "k-ingress-broker-loss-0123456789",
        "HYPELEDGER_LOG_FORMAT": "json",
    }
    log = tmp_path / "ingress.log"
    ingress = start_ingress(env, log)
    try:
        await wait_ready(ingress, f"http://127.0.0.1:{port}/readyz", log)
        await broker.kill()
        await asyncio.sleep(1.0)  # the reply consumer's fetches now fail and back off
        started = time.monotonic()
        ingress.send_signal(signal.SIGTERM)
        code = await exit_code(ingress, STOP_WITHIN_S)
        return code, time.monotonic() - started
    finally:
        if ingress.poll() is None:
            ingress.kill()
            ingress.wait(timeout=10)
