"""With its broker gone, the ingress stops reporting ready and answers 503, never a hang or a 500."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from shared.infra.broker import start_tansu
from shared.infra.processes import ServerProcess, stop_group
from tests.integration.ingress.served import ServedIngress, ingress_settings, signed_headers

pytestmark = pytest.mark.integration

BET = "/webhooks/hypetech/bet"
BODY = (
    b'{"user_id":"1","currency":"USD","amount":1,"provider":"p","provider_tx_id":"1",'
    b'"round_id":"1","session_token":"s"}'
)


@pytest.fixture
async def private_broker() -> AsyncIterator[tuple[str, list[ServerProcess]]]:
    """A Tansu of this test's own, which the test may stop."""
    servers: list[ServerProcess] = []
    with tempfile.TemporaryDirectory() as run_dir:
        bootstrap = await start_tansu(Path(run_dir), on_spawn=servers.append)
        try:
            yield bootstrap, servers
        finally:
            for server in servers:
                stop_group(server.pgid)


async def test_turns_unready_and_answers_503_once_the_broker_is_gone(
    private_broker: tuple[str, list[ServerProcess]],
) -> None:
    bootstrap, servers = private_broker
    env = {"environment": "test", "kafka_bootstrap_servers": bootstrap, "kafka_flavour": "tansu",
           "kafka_fetch_max_wait_ms": 10, "topic_prefix": "loss."}  # fmt: skip
    settings = ingress_settings(env, ledger_timeout_s=1.0)

    with ServedIngress(settings, ledger=False) as served:
        async with httpx.AsyncClient(base_url=served.base_url, timeout=5.0) as http:
            ready_before = (await http.get("/readyz")).status_code
            for server in servers:
                stop_group(server.pgid)
            ready_after = (await http.get("/readyz")).status_code
            answer = await http.post(BET, content=BODY, headers=signed_headers(settings, BET, BODY))

    assert (ready_before, ready_after) == (200, 503)
    assert (answer.status_code, answer.json()["type"].rsplit("/", 1)[-1]) == (
        503,
        "ledger-unavailable",
    )
