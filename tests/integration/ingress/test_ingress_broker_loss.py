"""With its broker gone, the ingress stops reporting ready and answers 503, never a hang or a 500."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.integration.ingress.served import ServedIngress, ingress_settings, signed_headers
from tests.own_kafka import own_kafka

pytestmark = pytest.mark.integration

BET = "/webhooks/hypetech/bet"
BODY = (
    b'{"user_id":"1","currency":"USD","amount":1,"provider":"p","provider_tx_id":"1",'
    b'"round_id":"1","session_token":"s"}'
)


async def test_turns_unready_and_answers_503_once_the_broker_is_gone(tmp_path: Path) -> None:
    async with own_kafka(tmp_path / "kafka") as broker:
        env = {"environment": "test", "kafka_bootstrap_servers": broker.bootstrap,
               "kafka_flavour": "kafka", "topic_prefix": "loss."}  # fmt: skip
        settings = ingress_settings(env, ledger_timeout_s=1.0)

        with ServedIngress(settings, ledger=False) as served:
            async with httpx.AsyncClient(base_url=served.base_url, timeout=5.0) as http:
                ready_before = (await http.get("/readyz")).status_code
                await broker.stop()
                ready_after = (await http.get("/readyz")).status_code
                answer = await http.post(
                    BET, content=BODY, headers=signed_headers(settings, BET, BODY)
                )

    assert (ready_before, ready_after) == (200, 503)
    assert (answer.status_code, answer.json()["type"].rsplit("/", 1)[-1]) == (
        503,
        "ledger-unavailable",
    )
