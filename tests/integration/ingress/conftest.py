"""Fixtures for the ingress's integration tests: a real Kafka-protocol broker, unique topics."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from shared.infra.broker import tansu_binary
from shared.infra.processes import free_port, port_answers


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """``HYPELEDGER_KAFKA_BOOTSTRAP_SERVERS`` when set, else a Tansu started for this session."""
    configured = os.environ.get("HYPELEDGER_KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as run_dir, open(f"{run_dir}/tansu.log", "wb") as log:
        argv = [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
                "--storage-engine", "memory://tansu/"]  # fmt: skip
        server = subprocess.Popen(argv, stdout=log, stderr=log, cwd=run_dir, start_new_session=True)
        try:
            deadline = time.monotonic() + 20
            while not port_answers("127.0.0.1", port):
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"Tansu did not start on {port}")
                time.sleep(0.02)
            yield f"127.0.0.1:{port}"
        finally:
            server.terminate()
            server.wait(timeout=10)


@pytest.fixture
def kafka_env(kafka_bootstrap: str) -> dict[str, Any]:
    """Settings kwargs for one test: the broker, test timings and a unique topic prefix."""
    flavour = os.environ.get("HYPELEDGER_KAFKA_FLAVOUR", "tansu")
    return {
        "environment": "test",
        "kafka_bootstrap_servers": kafka_bootstrap,
        "kafka_flavour": flavour,
        "kafka_fetch_max_wait_ms": 10,
        "kafka_session_timeout_ms": 1000,
        "kafka_heartbeat_interval_ms": 200,
        "topic_prefix": f"t{uuid.uuid4().hex[:10]}.",
    }
