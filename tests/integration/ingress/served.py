"""A real ingress over real HTTP (uvicorn) and a real broker, in a thread of its own.

The thread has its own event loop, so synchronous tests (Hypothesis) and asynchronous ones can
both drive it. ``StandInLedger`` is our own seam's fake: it consumes the command topic and answers
every command with a ``LedgerReply`` naming its ``provider_tx_id``, like the ledger would.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

import uvicorn

from services.ingress.app import create_app
from services.ingress.settings import IngressSettings
from services.ingress.signature import sign
from shared import kafka
from shared.command_auth import reply_headers
from shared.contracts.commands import WALLET_COMMAND, LedgerReply, WebhookEnvelope
from shared.contracts.topics import COMMANDS, HEADER_CORRELATION_ID, HEADER_REPLY_TO
from shared.infra.processes import free_port
from shared.jsonwire import dumps_compact
from shared.kafka import ensure_topics
from shared.settings import CommonSettings

API_KEY = "k-ingress-integration-0123456789"
STARTS_WITHIN_S = 30.0


def ingress_settings(kafka_env: dict[str, Any], **overrides: Any) -> IngressSettings:
    port = free_port()
    options: dict[str, Any] = {
        **kafka_env,
        "port": port,
        "public_base_url": f"http://127.0.0.1:{port}",
        "hypetech_api_keys": [API_KEY],
        "ledger_timeout_s": 5.0,
    }
    options.update(overrides)
    return IngressSettings(**options)


def signed_headers(
    settings: IngressSettings, path: str, body: bytes, query: str = ""
) -> dict[str, str]:
    url = settings.public_base_url + path + (f"?{query}" if query else "")
    return {"Hype-Hash": sign(API_KEY.encode(), url, body), "Content-Type": "application/json"}


class StandInLedger:
    """Answers every command on the command topic; records what it answered."""

    def __init__(self, settings: CommonSettings) -> None:
        self.settings = settings
        self.answered: list[WebhookEnvelope] = []

    async def run(self) -> None:
        consumer = kafka.consumer(self.settings, self.settings.topic(COMMANDS), group_id=None)
        producer = kafka.producer(self.settings)
        signer = self.settings.command_signer()  # signs as the ledger does
        await consumer.start()
        await producer.start()
        try:
            async for record in consumer:
                headers = dict(record.headers)
                command = WALLET_COMMAND.validate_json(record.value or b"")
                assert isinstance(command, WebhookEnvelope)
                self.answered.append(command)
                body = dumps_compact({
                    "operator_tx_id": f"op-{command.provider_tx_id}",
                    "user_id": command.user_id,
                    "currency": command.currency,
                    "provider_tx_id": command.provider_tx_id,
                })  # fmt: skip
                value = LedgerReply(status=200, body=body).model_dump_json().encode()
                await producer.send_and_wait(
                    headers[HEADER_REPLY_TO].decode(),
                    value,
                    headers=reply_headers(
                        signer, correlation_id=headers[HEADER_CORRELATION_ID], value=value
                    ),
                )
        finally:
            await consumer.stop()
            await producer.stop()


class ServedIngress:
    """``with ServedIngress(settings, ledger=True) as served:`` serves on ``served.base_url``."""

    def __init__(self, settings: IngressSettings, *, ledger: bool) -> None:
        self.settings = settings
        self.base_url = f"http://127.0.0.1:{settings.port}"
        self.stand_in = StandInLedger(settings) if ledger else None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="served-ingress", daemon=True)

    def __enter__(self) -> ServedIngress:
        self._thread.start()
        if not self._ready.wait(STARTS_WITHIN_S) or self._failure is not None:
            self.__exit__()
            raise RuntimeError(f"the ingress did not start: {self._failure!r}")
        return self

    def __exit__(self, *_: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(STARTS_WITHIN_S)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
            self._failure = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        await ensure_topics(self.settings, {COMMANDS: 4})
        stand_in = asyncio.create_task(self.stand_in.run()) if self.stand_in else None
        config = uvicorn.Config(
            create_app(self.settings),
            host="127.0.0.1",
            port=self.settings.port,
            lifespan="on",
            log_level="warning",
            access_log=False,
        )
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve())
        try:
            async with asyncio.timeout(STARTS_WITHIN_S):
                while not server.started:
                    if serving.done():
                        serving.result()
                        raise RuntimeError("uvicorn stopped during start")
                    await asyncio.sleep(0.02)
            self._ready.set()
            await self._stop.wait()
        finally:
            server.should_exit = True
            await serving
            if stand_in is not None:
                stand_in.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await stand_in


async def records_on(settings: CommonSettings, name: str, *, quiet_ms: int = 500) -> int:
    """How many records the contract topic ``name`` holds (read until ``quiet_ms`` of silence)."""
    consumer = kafka.consumer(settings, settings.topic(name), group_id=None)
    await consumer.start()
    count = 0
    try:
        for _ in range(1000):
            batches = await consumer.getmany(timeout_ms=quiet_ms)
            if not batches:
                break
            count += sum(len(records) for records in batches.values())
    finally:
        await consumer.stop()
    return count
