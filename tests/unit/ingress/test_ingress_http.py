"""The ingress over ASGI with a fake ledger link: what is answered, what is published."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import structlog
from structlog.testing import capture_logs

from services.ingress.app import create_app
from services.ingress.settings import IngressSettings
from services.ingress.signature import sign
from shared.contracts.commands import WALLET_COMMAND, LedgerReply, WebhookEnvelope, WebhookKind
from shared.kafka_rpc import RpcReply, RpcStats, RpcTimeout
from tests.unit.ingress import hypetech_examples as ex

BASE = "https://wallet.example.com"
KEY = b"k-ingress-unit-0123456789"
REPO = Path(__file__).resolve().parents[3]


class FakeLedger:
    """Stands in for the request-reply client: records what is published, answers a fixed reply."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes, str | None]] = []
        self.reply = LedgerReply(status=200, body='{"operator_tx_id":"op-1","new_balance":"1.00"}')
        self.silent = False
        self.unreadable = False
        self.stats = RpcStats()
        self.reply_consumer_assigned = True

    async def request(
        self, *, key: str, value: bytes, timeout_s: float, correlation_id: str | None = None
    ) -> RpcReply:
        self.published.append((key, value, correlation_id))
        if self.silent:
            raise RpcTimeout("silent")
        value = b"not a reply" if self.unreadable else self.reply.model_dump_json().encode()
        return RpcReply(value, {}, correlation_id or "")

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def broker_reachable(self, timeout_s: float = 1.0) -> bool:
        return True

    def envelopes(self) -> list[WebhookEnvelope]:
        parsed = [WALLET_COMMAND.validate_json(value) for _, value, _ in self.published]
        return [item for item in parsed if isinstance(item, WebhookEnvelope)]


@pytest.fixture
def ledger() -> FakeLedger:
    return FakeLedger()


@pytest.fixture
async def http(ledger: FakeLedger) -> AsyncIterator[httpx.AsyncClient]:
    settings = IngressSettings(
        environment="test",
        public_base_url=BASE,
        hypetech_api_keys=[KEY.decode()],
        max_body_bytes=1024,
        retry_after_s=2,
    )
    app = create_app(settings, ledger=ledger, clock=lambda: datetime(2026, 5, 4, tzinfo=UTC))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ingress") as client:
        yield client


def signed(path: str, body: bytes, query: str = "") -> dict[str, str]:
    url = BASE + path + (f"?{query}" if query else "")
    return {"Hype-Hash": sign(KEY, url, body), "Content-Type": "application/json"}


BET = "/webhooks/hypetech/bet"
REGISTER = "/webhooks/hypetech/register"


async def test_answers_the_ledgers_reply_byte_for_byte(
    http: httpx.AsyncClient, ledger: FakeLedger
) -> None:
    ledger.reply = LedgerReply(
        status=403, body='{"type":"x/insufficient-funds","balance":"1.00"}',
        content_type="application/problem+json",
    )  # fmt: skip

    response = await http.post(BET, content=ex.V4_BET, headers=signed(BET, ex.V4_BET))

    assert response.status_code == 403
    assert response.content == b'{"type":"x/insufficient-funds","balance":"1.00"}'
    assert response.headers["content-type"] == "application/problem+json"


async def test_publishes_the_normalised_envelope_keyed_by_user(
    http: httpx.AsyncClient, ledger: FakeLedger
) -> None:
    await http.post(BET, content=ex.V4_BET, headers=signed(BET, ex.V4_BET))

    (key, _, _), envelope = ledger.published[0], ledger.envelopes()[0]
    assert key == "26"
    assert (envelope.kind, envelope.provider_tx_id, str(envelope.amount)) == (
        WebhookKind.BET,
        "559",
        "200.00",
    )


async def test_sends_the_correlation_id_it_answers_with(
    http: httpx.AsyncClient, ledger: FakeLedger
) -> None:
    response = await http.post(BET, content=ex.V4_BET, headers=signed(BET, ex.V4_BET))

    assert ledger.published[0][2] == response.headers["x-correlation-id"]


async def test_names_the_request_and_its_player_on_each_line_it_logs_and_then_forgets_them(
    http: httpx.AsyncClient, ledger: FakeLedger
) -> None:
    ledger.unreadable = True

    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        response = await http.post(BET, content=ex.V4_BET, headers=signed(BET, ex.V4_BET))

    named = {entry["event"]: (entry.get("correlation_id"), entry.get("user_id")) for entry in logs}
    expected = (response.headers["x-correlation-id"], "26")
    assert named == {"ingress.bad_reply": expected, "ingress.request": expected}
    assert "correlation_id" not in structlog.contextvars.get_contextvars()


async def test_accepts_a_legacy_get_signed_over_the_url_with_its_query(
    http: httpx.AsyncClient, ledger: FakeLedger
) -> None:
    query = "user_id=26&currency=USD&amount=200&provider=hypetech&provider_tx_id=9&round_id=1"
    query += "&session_token=abc"

    response = await http.get(f"{REGISTER}?{query}", headers=signed(REGISTER, b"", query))

    assert response.status_code == 200
    assert ledger.envelopes()[0].provider_tx_id == "9"


async def test_rejects_query_fields_a_body_only_signature_does_not_cover(
    http: httpx.AsyncClient, ledger: FakeLedger
) -> None:
    rollback = "/webhooks/hypetech/rollback"
    body = b'{"user_id":"26","currency":"USD","amount":50,"provider":"hypetech",'
    body += b'"provider_tx_id":"rb7","game":"aviador","round_id":"255","session_token":"t"}'

    response = await http.post(
        f"{rollback}?linked_tx_id=someone-elses-bet", content=body, headers=signed(rollback, body)
    )

    assert (response.status_code, response.json()["type"].rsplit("/", 1)[-1]) == (
        401,
        "invalid-signature",
    )
    assert ledger.published == []


async def test_rejects_a_bare_url_signature_carrying_fields_in_the_query(
    http: httpx.AsyncClient, ledger: FakeLedger
) -> None:
    query = "user_id=26&currency=USD&amount=200&provider=hypetech&provider_tx_id=9&round_id=1"

    response = await http.get(f"{REGISTER}?{query}", headers=signed(REGISTER, b""))

    assert response.status_code == 401
    assert ledger.published == []


async def test_accepts_a_body_only_signature_when_the_query_repeats_the_body(
    http: httpx.AsyncClient, ledger: FakeLedger
) -> None:
    query = "user_id=26&currency=USD&amount=200&provider_tx_id=559&mode=free"

    response = await http.post(f"{BET}?{query}", content=ex.V4_BET, headers=signed(BET, ex.V4_BET))

    assert response.status_code == 200
    assert ledger.envelopes()[0].mode.value == "default"  # the signed body's value, not the query's


@pytest.mark.parametrize("headers", [{}, {"Hype-Hash": "0" * 64}, {"Hype-Hash": "nothex"}])
async def test_rejects_a_missing_or_wrong_signature_and_publishes_nothing(
    http: httpx.AsyncClient, ledger: FakeLedger, headers: dict[str, str]
) -> None:
    response = await http.post(BET, content=ex.V4_BET, headers=headers)

    assert (response.status_code, response.json()["type"].rsplit("/", 1)[-1]) == (
        401,
        "invalid-signature",
    )
    assert ledger.published == []


async def test_rejects_a_signature_made_for_another_route(
    http: httpx.AsyncClient, ledger: FakeLedger
) -> None:
    response = await http.post(BET, content=ex.V4_BET, headers=signed(REGISTER, ex.V4_BET))

    assert response.status_code == 401
    assert ledger.published == []


async def test_refuses_a_body_over_the_limit_and_publishes_nothing(
    http: httpx.AsyncClient, ledger: FakeLedger
) -> None:
    body = b'{"pad":"' + b"x" * 2000 + b'"}'

    response = await http.post(BET, content=body, headers=signed(BET, body))

    assert (response.status_code, response.headers["content-type"]) == (
        413,
        "application/problem+json",
    )
    assert ledger.published == []


async def test_refuses_a_streamed_body_over_the_limit_without_a_length(
    http: httpx.AsyncClient, ledger: FakeLedger
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"x" * 200

    response = await http.post(BET, content=chunks(), headers={"Hype-Hash": "0" * 64})

    assert response.status_code == 413


async def test_rejects_a_body_that_is_not_json_as_malformed(
    http: httpx.AsyncClient, ledger: FakeLedger
) -> None:
    response = await http.post(BET, content=b"{nope", headers=signed(BET, b"{nope"))

    assert (response.status_code, response.json()["title"]) == (400, "Malformed request")
    assert ledger.published == []


async def test_names_the_missing_field(http: httpx.AsyncClient, ledger: FakeLedger) -> None:
    body = ex.V4_BET.replace(b'"user_id":"26",', b"")

    response = await http.post(BET, content=body, headers=signed(BET, body))

    problem = response.json()
    assert (response.status_code, problem["field"], problem["statusCode"]) == (400, "user_id", 400)
    assert problem["type"].endswith("/invalid-field")


async def test_answers_503_with_retry_after_when_the_ledger_is_silent(
    http: httpx.AsyncClient, ledger: FakeLedger
) -> None:
    ledger.silent = True

    response = await http.post(BET, content=ex.V4_BET, headers=signed(BET, ex.V4_BET))

    assert (response.status_code, response.headers["retry-after"]) == (503, "2")
    assert response.json()["type"].endswith("/ledger-unavailable")


async def test_answers_an_unknown_path_with_a_problem(http: httpx.AsyncClient) -> None:
    response = await http.post("/webhooks/hypetech/nope", content=b"{}")

    assert (response.status_code, response.headers["content-type"]) == (
        404,
        "application/problem+json",
    )


async def test_reports_alive(http: httpx.AsyncClient) -> None:
    assert (await http.get("/healthz")).status_code == 200


async def test_is_not_ready_while_the_reply_consumer_is_unassigned(
    http: httpx.AsyncClient, ledger: FakeLedger
) -> None:
    ledger.reply_consumer_assigned = False

    response = await http.get("/readyz")

    assert (response.status_code, response.json()["checks"]["reply_consumer_assigned"]) == (
        503,
        False,
    )


async def test_counts_requests_by_route_and_status(http: httpx.AsyncClient) -> None:
    await http.post(BET, content=ex.V4_BET, headers={})

    metrics = (await http.get("/metrics")).text

    assert 'hypeledger_ingress_requests_total{route="/webhooks/hypetech/bet",status="401"} 1.0' in (
        metrics
    )


async def test_serves_the_openapi_document_kept_in_the_repo(http: httpx.AsyncClient) -> None:
    served = (await http.get("/openapi.json")).json()
    served["servers"] = [{"url": "http://127.0.0.1:8080"}]

    assert served == json.loads((REPO / "docs" / "ingress-openapi.json").read_text())


def test_refuses_a_current_path_that_is_a_legacy_path_of_another_kind() -> None:
    settings = IngressSettings(environment="test", path_bet="/webhooks/hypetech/rewards")

    with pytest.raises(ValueError, match="legacy win route"):
        create_app(settings, ledger=FakeLedger())


def test_refuses_two_current_routes_on_one_path() -> None:
    settings = IngressSettings(environment="test", path_bet="/hooks/one", path_win="/hooks/one")

    with pytest.raises(ValueError, match="must differ"):
        create_app(settings, ledger=FakeLedger())


async def test_serves_a_configured_current_path(ledger: FakeLedger) -> None:
    settings = IngressSettings(
        environment="test", public_base_url=BASE, hypetech_api_keys=[KEY.decode()],
        path_bet="/yourRegisterBetPath",
    )  # fmt: skip
    app = create_app(settings, ledger=ledger, clock=lambda: datetime(2026, 5, 4, tzinfo=UTC))
    path = "/yourRegisterBetPath"

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://ingress"
    ) as http:
        response = await http.post(path, content=ex.V2_BET, headers=signed(path, ex.V2_BET))

    assert response.status_code == 200
    assert ledger.envelopes()[0].generation.value == "v4"


def allowed(response: httpx.Response) -> set[str]:
    return {method.strip() for method in response.headers["allow"].split(",")}


async def test_answers_a_method_a_webhook_does_not_take_with_405_and_allow(
    http: httpx.AsyncClient, ledger: FakeLedger
) -> None:
    response = await http.put("/webhooks/hypetech/register", content=b"{}")

    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    assert {"GET", "POST"} <= allowed(response)
    assert ledger.published == []


async def test_answers_a_post_to_a_probe_with_405_and_allow(http: httpx.AsyncClient) -> None:
    response = await http.post("/healthz")

    assert response.status_code == 405
    assert allowed(response) == {"GET", "HEAD"}


@pytest.mark.parametrize("path", ["/metrics", "/openapi.json"])
async def test_metrics_and_the_openapi_document_take_the_metrics_token_when_one_is_set(
    ledger: FakeLedger, path: str
) -> None:
    token = "m" * 32
    settings = IngressSettings(environment="test", metrics_token=token)
    app = create_app(settings, ledger=ledger)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://ingress"
    ) as client:
        anonymous = await client.get(path)
        wrong = await client.get(path, headers={"Authorization": f"Bearer {'x' * 32}"})
        right = await client.get(path, headers={"Authorization": f"Bearer {token}"})

    assert (anonymous.status_code, wrong.status_code, right.status_code) == (401, 401, 200)


async def test_exports_the_replies_refused_as_not_signed_by_the_ledger(
    http: httpx.AsyncClient, ledger: FakeLedger
) -> None:
    ledger.stats.forged_replies = 3

    metrics = (await http.get("/metrics")).text

    assert "hypeledger_ingress_forged_replies_total 3.0" in metrics


async def test_a_client_gone_before_its_body_ended_publishes_nothing_and_is_logged_as_such(
    ledger: FakeLedger,
) -> None:
    settings = IngressSettings(
        environment="test", public_base_url=BASE, hypetech_api_keys=[KEY.decode()]
    )
    app = create_app(settings, ledger=ledger)
    body = ex.V4_BET
    messages = [
        {"type": "http.request", "body": body[:10], "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return messages.pop(0)

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "method": "POST", "path": BET, "raw_path": BET.encode(),
        "query_string": b"", "headers": [(b"hype-hash", sign(KEY, BASE + BET, body).encode())],
    }  # fmt: skip
    with capture_logs() as logs:
        await app(scope, receive, send)

    assert ledger.published == []
    assert [entry.get("outcome") for entry in logs if entry["event"] == "ingress.request"] == [
        "client-gone"
    ]
    assert not any(entry["event"] == "ingress.unexpected_error" for entry in logs)
