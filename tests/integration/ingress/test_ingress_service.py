"""The ingress over real HTTP and a real broker, against a stand-in ledger."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from shared.contracts.topics import COMMANDS
from tests.integration.ingress.served import (
    API_KEY,
    ServedIngress,
    ingress_settings,
    records_on,
    signed_headers,
)

pytestmark = pytest.mark.integration

BET_PATH = "/webhooks/hypetech/bet"
BODY_JS = (
    '{user_id: "26", currency: "USD", amount: 200, provider: "hypetech", provider_tx_id: 559,'
    ' game: "aviador", action: "bet", round_id: "255", mode: "default", count_register: "1",'
    ' session_token: "b72afc947ed1809d9a993d378733cfea", bonus_code: "FREEBET2024"}'
)


def node_signed(url: str, key: str) -> tuple[bytes, str]:
    """Body and Hype-Hash exactly as Hypetech's Node.js reference makes them."""
    script = (
        "const crypto = require('crypto');"
        f"const body = {BODY_JS};"
        f"const url = {json.dumps(url)};"
        f"const hash = crypto.createHmac('sha256', {json.dumps(key)})"
        ".update(url + JSON.stringify(body)).digest('hex');"
        "process.stdout.write(JSON.stringify({hash, body: JSON.stringify(body)}));"
    )
    done = subprocess.run(["node", "-e", script], capture_output=True, check=True, timeout=20)
    result = json.loads(done.stdout)
    return result["body"].encode(), result["hash"]


@pytest.fixture
def served(kafka_env: dict[str, Any]) -> Iterator[ServedIngress]:
    with ServedIngress(ingress_settings(kafka_env), ledger=True) as served:
        yield served


async def test_accepts_a_webhook_signed_by_nodejs_as_the_docs_describe(
    served: ServedIngress,
) -> None:
    body, hype_hash = node_signed(served.base_url + BET_PATH, API_KEY)

    async with httpx.AsyncClient(base_url=served.base_url) as http:
        response = await http.post(BET_PATH, content=body, headers={"Hype-Hash": hype_hash})

    assert (response.status_code, response.json()["operator_tx_id"]) == (200, "op-559")


@pytest.mark.parametrize("tamper", ["body", "url", "key"])
async def test_rejects_a_nodejs_signature_with_one_byte_changed_and_publishes_nothing(
    served: ServedIngress, tamper: str
) -> None:
    url = served.base_url + BET_PATH + ("x" if tamper == "url" else "")
    key = API_KEY[:-1] + ("X" if tamper == "key" else API_KEY[-1])
    body, hype_hash = node_signed(url, key)
    if tamper == "body":
        body = body.replace(b"200", b"300")

    async with httpx.AsyncClient(base_url=served.base_url) as http:
        response = await http.post(BET_PATH, content=body, headers={"Hype-Hash": hype_hash})

    assert response.status_code == 401
    assert await records_on(served.settings, COMMANDS) == 0


async def test_serves_the_legacy_get_path_from_the_query_string(served: ServedIngress) -> None:
    path = "/webhooks/hypetech/rewards"
    query = "user_id=7&currency=BRL&amount=12.5&provider=hypetech&provider_tx_id=77&round_id=3"

    async with httpx.AsyncClient(base_url=served.base_url) as http:
        response = await http.get(
            f"{path}?{query}", headers=signed_headers(served.settings, path, b"", query)
        )

    assert (response.status_code, response.json()["provider_tx_id"]) == (200, "77")
    assert served.stand_in is not None
    assert str(served.stand_in.answered[-1].amount) == "12.50"


async def test_reports_ready_once_its_reply_consumer_is_assigned(served: ServedIngress) -> None:
    async with httpx.AsyncClient(base_url=served.base_url) as http:
        response = await http.get("/readyz")

    assert response.json() == {
        "ready": True,
        "checks": {"reply_consumer_assigned": True, "broker_reachable": True},
    }


async def test_answers_503_within_the_timeout_when_no_ledger_answers(
    kafka_env: dict[str, Any],
) -> None:
    settings = ingress_settings(kafka_env, ledger_timeout_s=0.5, retry_after_s=3)
    body = (
        b'{"user_id":"1","currency":"USD","amount":1,"provider":"p","provider_tx_id":"1",'
        b'"round_id":"1","session_token":"s"}'
    )

    with ServedIngress(settings, ledger=False) as served:
        async with httpx.AsyncClient(base_url=served.base_url, timeout=2.0) as http:
            response = await http.post(
                BET_PATH, content=body, headers=signed_headers(settings, BET_PATH, body)
            )

    assert (response.status_code, response.headers["retry-after"]) == (503, "3")
    assert response.json()["type"].endswith("/ledger-unavailable")
